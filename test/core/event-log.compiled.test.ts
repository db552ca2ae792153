import { describe, expect, it } from 'vitest'
import { openEventLog, manualClock, sequentialIds, type EventInput } from '../../src/index.js'
import { parseCompiled } from '../../src/events/compiled.js'
import { tempDb } from '../support/tmp.js'
import { tradingEvents } from '../../bench/workload.js'

/** The same event, in a form the compiled path leaves to zod (data without Object's prototype) and zod reads alike. */
const viaZod = (input: EventInput): EventInput => ({ ...input, data: Object.assign(Object.create(null), input.data as object) })

function rowsOf(write: (log: ReturnType<typeof openEventLog>) => void) {
  const log = openEventLog({ path: tempDb(), clock: manualClock(1_000), ids: sequentialIds('e') })
  write(log)
  expect(log.verify()).toMatchObject({ ok: true })
  const rows = [...log.readReplicable()]
  log.close()
  return rows
}

describe('event log: the compiled path and zod store the same rows', () => {
  // order events and marks, with one order's submit repeated (an idempotent duplicate) in the batch
  const inputs = tradingEvents(150, 'cp')
  inputs.splice(70, 0, inputs[0]!)

  it('given events the compiled path vouches for, when appended one by one, then seqs, data, keys and hashes equal those of the zod path', () => {
    expect(inputs.every((i) => parseCompiled(i) !== undefined)).toBe(true)
    expect(inputs.every((i) => parseCompiled(viaZod(i)) === undefined)).toBe(true)
    const compiled = rowsOf((log) => {
      for (const i of inputs) log.append(i)
    })
    const zod = rowsOf((log) => {
      for (const i of inputs) log.append(viaZod(i))
    })
    expect(compiled).toHaveLength(150)
    expect(compiled).toEqual(zod)
  })

  it('given the same events in one batch (multi-row inserts), then the rows equal the single appends', () => {
    const distinct = inputs.filter((_, k) => k !== 70)
    const single = rowsOf((log) => {
      for (const i of distinct) log.append(viaZod(i))
    })
    expect(rowsOf((log) => log.appendBatch(distinct))).toEqual(single)
  })

  it('given a duplicate inside the batch, then it gets the stored envelope back and the chain holds the same events in the same order', () => {
    const single = rowsOf((log) => {
      for (const i of inputs) log.append(viaZod(i))
    })
    const batched = rowsOf((log) => {
      const out = log.appendBatch(inputs)
      expect(out[70]!.seq).toBe(out[0]!.seq)
    })
    // the batch is redone row by row after the duplicate, so its ids (and so its links) are drawn anew
    const content = (rows: typeof single) => rows.map(({ id: _id, hash: _hash, prevHash: _prev, ...rest }) => rest)
    expect(content(batched)).toEqual(content(single))
  })
})
