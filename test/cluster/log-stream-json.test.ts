import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/index.js'
import { MsgHdrsImpl } from '@nats-io/transport-node'
import { decodeRow, encodeRow, EPOCH_HEADER, RowHeaders } from '../../src/cluster/replication/log-stream.js'
import { tempDb } from '../support/tmp.js'
import { mark, submitted } from '../support/events.js'

describe('the stream message of a row, as SQLite writes it', () => {
  it('given rows with and without keys, causation and correlation, quotes, control characters and non-ASCII text, is the message encodeRow makes, field for field', () => {
    const log = openEventLog({ path: tempDb() })
    log.append(submitted())
    log.append({ ...mark(), causationId: 'c-1', correlationId: 'r-"1"' })
    log.append({ ...submitted({ clientOrderId: 'é ü 日本 "q" \\ \n\t\u0001 🙂' }), idempotencyKey: 'k-"1"' })
    const expected = [...log.readReplicable()]
    const made = log.replicableMessages(1, 10)
    expect(made.map(([seq]) => seq)).toEqual(expected.map((r) => r.seq))
    for (const [i, [seq, hash, payload]] of made.entries()) {
      const row = expected[i]!
      expect(hash).toBe(row.hash)
      expect(JSON.parse(Buffer.from(payload).toString('utf8'))).toEqual(JSON.parse(new TextDecoder().decode(encodeRow(row))))
      expect(decodeRow(seq, payload, undefined).row).toEqual(decodeRow(row.seq, encodeRow(row), undefined).row)
    }
    log.close()
  })
})

describe('the messages replication publishes', () => {
  it('given five rows, replicableMessages gives at most `limit` of them from `from` on, in seq order', () => {
    const log = openEventLog({ path: tempDb() })
    for (let i = 0; i < 5; i++) log.append(mark(100 + i))
    const rows = [...log.readRaw()]

    expect(log.replicableMessages(2, 3).map(([seq, hash]) => [seq, hash])).toEqual(rows.slice(1, 4).map((r) => [r.seq, r.hash]))
    expect(log.replicableMessages(5, 10).map(([seq]) => seq)).toEqual([5])
    expect(log.replicableMessages(6, 10)).toEqual([])
    log.close()
  })

  it('the header block a RowHeaders writes is what the client encodes for the same headers, with and without the expected last msg id', () => {
    const made = new RowHeaders()
    const expected = (lastMsgId?: string) => {
      const h = new MsgHdrsImpl()
      h.set('Nats-Msg-Id', '12:abc')
      h.set('Nats-Expected-Last-Sequence', '11')
      h.set(EPOCH_HEADER, '3')
      if (lastMsgId) h.set('Nats-Expected-Last-Msg-Id', lastMsgId)
      return Buffer.from(h.encode()).toString('latin1')
    }

    expect(Buffer.from(made.fill('12:abc', 11, '3', undefined).encode()).toString('latin1')).toBe(expected())
    expect(Buffer.from(made.fill('12:abc', 11, '3', '11:def').encode()).toString('latin1')).toBe(expected('11:def'))
  })
})
