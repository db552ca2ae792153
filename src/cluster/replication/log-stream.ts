import { z } from 'zod'
import { headers, MsgHdrsImpl, type MsgHdrs } from '@nats-io/transport-node'
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StoredMsg, type StreamInfo } from '@nats-io/jetstream'
import type { ReplicatedRow, StoredRow } from '../../core/log/event-log.js'

/**
 * The engine's log off the node: one JetStream stream per engine, one message per event, stream
 * sequence = log seq. Each message is the row exactly as the log stored it (data as stored text,
 * both hashes), so whoever reads the stream can check the chain link by link without this build's
 * catalogue, and the epoch of the leader that wrote it rides in a header.
 */

export const streamNameOf = (engine: string): string => `HALTD_LOG_${engine}`
export const subjectOf = (engine: string): string => `haltd.log.${engine}`

/** The header naming the leadership epoch an event was published under (0: no leadership, a lone primary). */
export const EPOCH_HEADER = 'Haltd-Epoch'

/**
 * The message id of a row: its seq and its hash. A retry of the same row is a duplicate the stream
 * answers with the stored seq; a different event offered at the same seq (a second writer) is not a
 * duplicate, so it meets the expected-last-sequence check and is refused.
 */
export const msgIdOf = (row: Pick<StoredRow, 'seq' | 'hash'>): string => `${row.seq}:${row.hash}`

/**
 * The headers of one row's publish, written out once as the header block they encode to: its msg
 * id, the stream sequence it must follow, the epoch, and where its predecessor is not acknowledged
 * yet, the predecessor's msg id (so it is stored only right after that very message). The client
 * encodes a message's headers synchronously as it publishes, so one object serves every publish
 * of a publisher, refilled before each: no map of values to check and canonicalise per event.
 * Only `encode` (what the client sends) and `toString` speak for the block.
 */
export class RowHeaders extends MsgHdrsImpl {
  private text = ''
  private block: Uint8Array = new Uint8Array(0)

  fill(msgId: string, expectedLastSeq: number, epoch: string, expectedLastMsgId: string | undefined): this {
    const after = expectedLastMsgId === undefined ? '' : `\r\nNats-Expected-Last-Msg-Id: ${expectedLastMsgId}`
    this.text = `NATS/1.0\r\nNats-Msg-Id: ${msgId}\r\nNats-Expected-Last-Sequence: ${expectedLastSeq}\r\n${EPOCH_HEADER}: ${epoch}${after}\r\n\r\n`
    this.block = Buffer.from(this.text, 'latin1')
    return this
  }

  override encode(): Uint8Array {
    return this.block
  }

  override toString(): string {
    return this.text
  }
}

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, '64 hex digits')
const StreamRow = z.strictObject({
  seq: z.number().int().positive(),
  id: z.string().min(1),
  type: z.string().min(1),
  v: z.number().int().positive(),
  ts: z.number().int().nonnegative(),
  stream: z.string().min(1),
  causationId: z.string().nullable(),
  correlationId: z.string().nullable(),
  data: z.string(),
  prevHash: Hex64,
  hash: Hex64,
  /** The idempotency key the leader stored it under (not part of the chain). */
  key: z.string().nullable().default(null),
})

export class UnreadableStreamMessage extends Error {
  constructor(
    readonly streamSeq: number,
    problem: string,
  ) {
    super(`stream message ${streamSeq} is not a haltd log row: ${problem}`)
    this.name = 'UnreadableStreamMessage'
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeRow(row: StoredRow & { key?: string | null }): Uint8Array {
  const { seq, id, type, v, ts, stream, causationId, correlationId, data, prevHash, hash } = row
  return encoder.encode(JSON.stringify({ seq, id, type, v, ts, stream, causationId, correlationId, data, prevHash, hash, key: row.key ?? null }))
}

export function epochHeaders(epoch: number): MsgHdrs {
  const h = headers()
  h.set(EPOCH_HEADER, String(epoch))
  return h
}

/** A stream message back to the row it carries, with the epoch it was published under. */
export type StreamEntry = { row: StoredRow; key: string | null; epoch: number }

/** The row as a replica appends it. */
export const replicatedRow = (entry: StreamEntry): ReplicatedRow => ({ ...entry.row, key: entry.key })

export function decodeRow(streamSeq: number, data: Uint8Array, hdrs: MsgHdrs | undefined): StreamEntry {
  let parsed: unknown
  try {
    parsed = JSON.parse(decoder.decode(data))
  } catch (e) {
    throw new UnreadableStreamMessage(streamSeq, `not JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  const result = StreamRow.safeParse(parsed)
  if (!result.success) {
    const first = result.error.issues[0]
    throw new UnreadableStreamMessage(streamSeq, `${first?.path.join('.') || 'row'}: ${first?.message ?? 'invalid'}`)
  }
  if (result.data.seq !== streamSeq) throw new UnreadableStreamMessage(streamSeq, `it carries log seq ${result.data.seq}`)
  const epochText = hdrs?.get(EPOCH_HEADER) ?? '0'
  const epoch = Number(epochText)
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new UnreadableStreamMessage(streamSeq, `header ${EPOCH_HEADER} is '${epochText}'`)
  const { key, ...row } = result.data
  return { row, key, epoch }
}

export const decodeStored = (m: StoredMsg): StreamEntry => decodeRow(m.seq, m.data, m.header)

export type LogStreamOptions = {
  engine: string
  /** Copies the stream keeps: 1 on a single server, 3 on a cluster of three. */
  replicas: number
}

/**
 * The engine's stream, created when it does not exist yet. It keeps every message (no limits), and
 * refuses deletes and purges: the log is append-only here too.
 */
export async function ensureLogStream(jsm: JetStreamManager, options: LogStreamOptions): Promise<StreamInfo> {
  const name = streamNameOf(options.engine)
  try {
    return await jsm.streams.info(name)
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e
  }
  return jsm.streams.add({
    name,
    subjects: [subjectOf(options.engine)],
    num_replicas: options.replicas,
    deny_delete: true,
    deny_purge: true,
    allow_direct: true,
  })
}

/** The stream's last sequence (0 while empty). */
export async function lastStreamSeq(jsm: JetStreamManager, engine: string): Promise<number> {
  const info = await jsm.streams.info(streamNameOf(engine))
  return info.state.last_seq
}

/** The row the stream holds at `seq`, or undefined where it has none. */
export async function streamRowAt(jsm: JetStreamManager, engine: string, seq: number): Promise<StreamEntry | undefined> {
  const m = await jsm.streams.getMessage(streamNameOf(engine), { seq })
  return m ? decodeStored(m) : undefined
}
