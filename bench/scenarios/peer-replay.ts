/**
 * Reading a log back, haltd against the peer event store: the same events written to
 * @event-driven-io/emmett-sqlite (one `appendToStream` per stream, all of its events at once) and
 * to a haltd log, then read whole. emmett reads stream by stream, the way its aggregates do, and
 * counts what it gets; haltd replays every projection from seq 0. Repetitions are interleaved.
 */
import { join } from 'node:path'
import { openEventLog } from '../../src/core/log/event-log.js'
import { replayLog } from '../../src/core/log/projection-runner.js'
import { parseEvent, streamOf } from '../../src/events/index.js'
import { compare, skippedResult, throughputResult, type BenchContext, type BenchResult, type BenchScenario, type Contender } from '../harness.js'
import { loadEmmettSqlite, type EmmettStore } from '../peer.js'
import { tradingEvents } from '../workload.js'

const EMMETT = 'emmett-sqlite read every stream'

async function emmettReader(
  ctx: BenchContext,
  streams: Map<string, { type: string; data: unknown }[]>,
  n: number,
  reps: number,
): Promise<Contender | BenchResult> {
  let store: EmmettStore
  try {
    const emmett = loadEmmettSqlite()
    store = emmett.getSQLiteEventStore({ fileName: join(ctx.tmpDir, 'emmett-replay.db') })
  } catch (e) {
    return skippedResult(EMMETT, 'events/s', `@event-driven-io/emmett-sqlite could not be loaded: ${e instanceof Error ? e.message : String(e)}`)
  }
  ctx.log(`peer replay: writing ${n} events in ${streams.size} streams to emmett-sqlite`)
  const print = console.log
  console.log = () => {} // it prints every failed transaction itself
  try {
    for (const [stream, events] of streams) await store.appendToStream(stream, events)
  } catch (e) {
    return skippedResult(EMMETT, 'events/s', `emmett-sqlite failed while writing: ${e instanceof Error ? e.message : String(e)}`)
  } finally {
    console.log = print
  }
  const names = [...streams.keys()]
  return {
    fn: async () => {
      let read = 0
      for (const stream of names) read += (await store.readStream(stream)).events.length
      if (read !== n) throw new Error(`emmett-sqlite read ${read} events back, ${n} were written`)
    },
    options: { warmup: 1, repetitions: reps, opsPerRep: 1, unitsPerOp: n, latencies: false },
    result: (m) => throughputResult(EMMETT, m, { note: `readStream of each of ${streams.size} streams, events counted; node-sqlite3` }),
  }
}

function haltdReplay(ctx: BenchContext, inputs: ReturnType<typeof tradingEvents>, reps: number): Contender {
  const log = openEventLog({ path: join(ctx.tmpDir, 'haltd-replay.db') })
  log.appendBatch(inputs)
  const n = inputs.length
  return {
    fn: () => {
      const r = replayLog(log, { fromSnapshot: false })
      if (r.applied !== n) throw new Error(`replay applied ${r.applied} events, ${n} were written`)
    },
    options: { warmup: 1, repetitions: reps, opsPerRep: 1, unitsPerOp: n, latencies: false },
    result: (m) =>
      throughputResult('haltd replay all projections (same events)', m, {
        baseline: EMMETT,
        target: { op: '>=', value: 1, of: 'ratio' },
        note: 'replayLog from seq 0: every stored event read, upcast and folded into all projections',
      }),
    close: () => log.close(),
  }
}

export const scenarios: BenchScenario[] = [
  {
    name: 'peer-replay',
    description: 'Reading the same events back: haltd replaying all projections against emmett-sqlite reading every stream',
    async run(ctx) {
      const n = ctx.quick ? 1_000 : 8_000
      const reps = ctx.quick ? 3 : 5
      const inputs = tradingEvents(n, 'pr')
      const streams = new Map<string, { type: string; data: unknown }[]>()
      for (const input of inputs) {
        const event = parseEvent(input)
        const stream = streamOf(event)
        streams.set(stream, [...(streams.get(stream) ?? []), { type: event.type, data: event.data }])
      }
      const emmett = await emmettReader(ctx, streams, n, reps)
      if (!('fn' in emmett)) {
        ctx.log(`${EMMETT}: skipped (${emmett.skipped})`)
        return [emmett, ...(await compare([haltdReplay(ctx, inputs, reps)]))]
      }
      return compare([emmett, haltdReplay(ctx, inputs, reps)])
    },
  },
]
