import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { decodeRow, streamNameOf, type StreamEntry } from '../../../src/cluster/replication/log-stream.js'
import { openEventLog, type StoredRow } from '../../../src/core/log/event-log.js'

/**
 * The three numbers every failover test holds to: 0 acknowledged events lost, 0 forks, 0 orders
 * sent by a non-leader. Judged from outside, from what each part holds: the engine's stream, each
 * instance's local log, and the client order ids the venue received.
 */

/** Every message of the engine's stream, in order, with the epoch it was published under. */
export async function readStream(nc: NatsConnection, engine: string): Promise<StreamEntry[]> {
  const jsm = await jetstreamManager(nc)
  const last = (await jsm.streams.info(streamNameOf(engine))).state.last_seq
  const out: StreamEntry[] = []
  if (last === 0) return out
  const consumer = await jetstream(nc).consumers.get(streamNameOf(engine), { deliver_policy: DeliverPolicy.All })
  const messages = await consumer.consume({ max_messages: 4_096 })
  for await (const m of messages) {
    out.push(decodeRow(m.seq, m.data, m.headers))
    if (m.seq >= last) break
  }
  messages.stop()
  return out
}

/** A local log's rows, read as the audit reads them (no writer needed). */
export function logRows(path: string): StoredRow[] {
  const log = openEventLog({ path, readonly: true })
  try {
    return [...log.readRaw()]
  } finally {
    log.close()
  }
}

export type FailoverFindings = {
  /** Orders the venue received whose `order.submitted` the stream does not hold: acknowledged (the order left) and lost. */
  lost: string[]
  /**
   * Breaks in the stream's own chain, and a log that holds something else than the stream at a seq
   * the stream has, unless its instance was deposed (killed or paused past its lease): a deposed
   * leader's tail is what the stream never acknowledged, and what reached a venue from it shows in `lost`.
   */
  forks: string[]
  /** Orders the venue received that were submitted while the submitting instance's epoch was not the current one. */
  nonLeaderOrders: string[]
  /** Per instance, the seq from which its log holds what the stream does not (a killed leader's unacknowledged tail). */
  tails: Record<string, number>
}

const dataOf = (row: StoredRow) => JSON.parse(row.data) as Record<string, unknown>

export function failoverFindings(input: {
  stream: StreamEntry[]
  logs: Record<string, StoredRow[]>
  venueOrders: readonly string[]
  deposed?: readonly string[]
}): FailoverFindings {
  const { stream } = input
  const forks: string[] = []
  stream.forEach((e, i) => {
    if (e.row.seq !== i + 1) forks.push(`stream message ${i + 1} carries log seq ${e.row.seq}`)
    if (i > 0 && e.row.prevHash !== stream[i - 1]!.row.hash) forks.push(`stream seq ${e.row.seq} does not link to seq ${e.row.seq - 1}`)
  })
  const tails: Record<string, number> = {}
  for (const [name, rows] of Object.entries(input.logs)) {
    const differs = rows.findIndex((r, i) => stream[i]?.row.hash !== r.hash)
    if (differs === -1) continue
    tails[name] = rows[differs]!.seq
    const at = stream[differs]
    if (at && !input.deposed?.includes(name)) forks.push(`${name}: seq ${at.row.seq} is ${rows[differs]!.type} in the log and ${at.row.type} in the stream`)
  }

  // who led at each point of the stream: the newest leadership event before it
  const submitted = new Map<string, { seq: number; epoch: number; current: number | undefined }>()
  let current: number | undefined
  let released: number | undefined
  for (const e of stream) {
    if (e.row.type === 'leadership.acquired') current = dataOf(e.row).epoch as number
    else if (e.row.type === 'leadership.released') {
      released = dataOf(e.row).epoch as number
      current = undefined
    }
    // a handover rolled back after the release: the releasing leader kept its lease and epoch
    else if (e.row.type === 'handover.completed' && dataOf(e.row).outcome === 'rolled-back' && current === undefined) current = released
    else if (e.row.type === 'order.submitted') submitted.set(dataOf(e.row).clientOrderId as string, { seq: e.row.seq, epoch: e.epoch, current })
  }
  const lost: string[] = []
  const nonLeaderOrders: string[] = []
  for (const id of input.venueOrders) {
    const s = submitted.get(id)
    if (!s) lost.push(id)
    else if (s.current === undefined || s.epoch !== s.current)
      nonLeaderOrders.push(`${id} (seq ${s.seq}, epoch ${s.epoch}, leader's epoch ${s.current ?? 'none'})`)
  }
  return { lost, forks, nonLeaderOrders, tails }
}
