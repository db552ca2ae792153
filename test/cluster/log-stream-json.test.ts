import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/index.js'
import { decodeRow, encodeRow } from '../../src/cluster/replication/log-stream.js'
import { tempDb } from '../support/tmp.js'
import { mark, submitted } from '../support/events.js'

describe('the stream message of a row, as SQLite writes it', () => {
  it('given rows with and without keys, causation and correlation, quotes, control characters and non-ASCII text, is the message encodeRow makes, field for field', () => {
    const log = openEventLog({ path: tempDb() })
    log.append(submitted())
    log.append({ ...mark(), causationId: 'c-1', correlationId: 'r-"1"' })
    log.append({ ...submitted({ clientOrderId: 'é ü 日本 "q" \\ \n\t\u0001 🙂' }), idempotencyKey: 'k-"1"' })
    const expected = [...log.readReplicable()]
    const made = [...log.readReplicableJson()]
    expect(made.map((m) => m.seq)).toEqual(expected.map((r) => r.seq))
    for (const [i, m] of made.entries()) {
      const row = expected[i]!
      expect(m.hash).toBe(row.hash)
      expect(JSON.parse(m.json)).toEqual(JSON.parse(new TextDecoder().decode(encodeRow(row))))
      expect(decodeRow(m.seq, new TextEncoder().encode(m.json), undefined).row).toEqual(decodeRow(row.seq, encodeRow(row), undefined).row)
    }
    log.close()
  })
})
