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

/**
 * Where the body of a row too large for one message goes: a companion stream of the same engine, one
 * subject per chunk, named by the row's seq and hash. A row's chunks are published and acknowledged
 * before its message in the log stream, which then carries only the chunking headers. The hash in
 * the subject keeps the chunks of another writer's event at the same seq (refused from the log
 * stream, or a crash before the log message) from ever standing in for the stored event's.
 */
export const bodyStreamNameOf = (engine: string): string => `HALTD_LOG_BODIES_${engine}`
export const bodySubjectOf = (engine: string, seq: number, hash: string, chunk: number): string => `haltd.log.${engine}.bodies.${seq}.${hash}.${chunk}`
/** Every chunk subject of the engine: the companion stream's. */
export const bodySubjectsOf = (engine: string): string => `haltd.log.${engine}.bodies.>`
/**
 * A chunk's msg id: a retry of the same chunk is answered as a duplicate. It names the chunk size, so
 * a retry cut at another size (the server's limit changed between) is stored, replacing the old one,
 * instead of being taken for a duplicate of different bytes.
 */
export const chunkMsgIdOf = (seq: number, hash: string, chunkSize: number, chunk: number): string => `${seq}:${hash}:${chunkSize}:${chunk}`

/** Headers of a log message whose body is in the companion stream: how many chunks, their total size, the row's hash. */
export const BODY_CHUNKS_HEADER = 'Haltd-Body-Chunks'
export const BODY_SIZE_HEADER = 'Haltd-Body-Size'
export const BODY_HASH_HEADER = 'Haltd-Body-Hash'

/** The header lines naming a chunked body, as `RowHeaders.fill` appends them. */
export const bodyHeaderLines = (chunks: number, size: number, hash: string): string =>
  `${BODY_CHUNKS_HEADER}: ${chunks}\r\n${BODY_SIZE_HEADER}: ${size}\r\n${BODY_HASH_HEADER}: ${hash}`

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

  fill(msgId: string, expectedLastSeq: number, epoch: string, expectedLastMsgId: string | undefined, body?: string): this {
    const after = expectedLastMsgId === undefined ? '' : `\r\nNats-Expected-Last-Msg-Id: ${expectedLastMsgId}`
    const chunked = body === undefined ? '' : `\r\n${body}`
    this.text = `NATS/1.0\r\nNats-Msg-Id: ${msgId}\r\nNats-Expected-Last-Sequence: ${expectedLastSeq}\r\n${EPOCH_HEADER}: ${epoch}${after}${chunked}\r\n\r\n`
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
  if (data.length === 0 && isChunked(hdrs))
    throw new UnreadableStreamMessage(streamSeq, 'its body is in chunks in the companion stream (read it with readEntry)')
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

/** Whether a log message's body is in the companion stream (read it with `readEntry`). */
export const isChunked = (hdrs: MsgHdrs | undefined): boolean => hdrs?.has(BODY_CHUNKS_HEADER) === true

const count = (streamSeq: number, hdrs: MsgHdrs, name: string): number => {
  const text = hdrs.get(name)
  const n = Number(text)
  if (text === '' || !Number.isSafeInteger(n) || n < 0) throw new UnreadableStreamMessage(streamSeq, `header ${name} is '${text}'`)
  return n
}

/**
 * A log message back to its row, its body read from the companion stream when it was chunked: the
 * chunks put together must be as long as the headers say and carry the row they name. A missing
 * or short chunk is an `UnreadableStreamMessage`; a stream that does not answer throws what the
 * client threw (worth asking again).
 */
export async function readEntry(jsm: JetStreamManager, engine: string, streamSeq: number, data: Uint8Array, hdrs: MsgHdrs | undefined): Promise<StreamEntry> {
  if (!hdrs || !isChunked(hdrs)) return decodeRow(streamSeq, data, hdrs)
  const chunks = count(streamSeq, hdrs, BODY_CHUNKS_HEADER)
  const size = count(streamSeq, hdrs, BODY_SIZE_HEADER)
  const hash = hdrs.get(BODY_HASH_HEADER)
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new UnreadableStreamMessage(streamSeq, `header ${BODY_HASH_HEADER} is '${hash}'`)
  const body = new Uint8Array(size)
  let at = 0
  for (let n = 0; n < chunks; n++) {
    const m = await jsm.streams.getMessage(bodyStreamNameOf(engine), { last_by_subj: bodySubjectOf(engine, streamSeq, hash, n) }).catch((e: unknown) => {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)
        throw new UnreadableStreamMessage(streamSeq, `its body is in chunks and there is no stream ${bodyStreamNameOf(engine)}`)
      throw e
    })
    if (!m) throw new UnreadableStreamMessage(streamSeq, `chunk ${n + 1} of ${chunks} of its body is not in stream ${bodyStreamNameOf(engine)}`)
    if (at + m.data.length > size) throw new UnreadableStreamMessage(streamSeq, `its body's chunks hold more than the ${size} bytes its headers say`)
    body.set(m.data, at)
    at += m.data.length
  }
  if (at !== size) throw new UnreadableStreamMessage(streamSeq, `its body's chunks hold ${at} bytes, its headers say ${size}`)
  const entry = decodeRow(streamSeq, body, hdrs)
  if (entry.row.hash !== hash)
    throw new UnreadableStreamMessage(streamSeq, `its body is the row of hash ${entry.row.hash.slice(0, 12)}…, its headers name ${hash.slice(0, 12)}…`)
  return entry
}

export type LogStreamOptions = {
  engine: string
  /** Copies the stream keeps: 1 on a single server, 3 on a cluster of three. */
  replicas: number
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name)
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e
    return undefined
  }
}

/**
 * The engine's stream and its companion for large bodies, created when they do not exist yet. They
 * keep every message (no limits), and refuse deletes and purges: the log is append-only here too.
 */
export async function ensureLogStream(jsm: JetStreamManager, options: LogStreamOptions): Promise<StreamInfo> {
  const info =
    (await streamInfo(jsm, streamNameOf(options.engine))) ??
    (await jsm.streams.add({
      name: streamNameOf(options.engine),
      subjects: [subjectOf(options.engine)],
      num_replicas: options.replicas,
      deny_delete: true,
      deny_purge: true,
      allow_direct: true,
    }))
  await ensureBodyStream(jsm, options.engine, info)
  return info
}

/**
 * The companion stream of large bodies, created like the log stream it serves (same replicas and
 * storage) when it does not exist yet: a stream made before it existed gets it at its next start.
 * One message per chunk subject: a chunk published again after the duplicate window replaces its
 * twin instead of piling up.
 */
export async function ensureBodyStream(jsm: JetStreamManager, engine: string, logStream?: StreamInfo): Promise<StreamInfo> {
  const existing = await streamInfo(jsm, bodyStreamNameOf(engine))
  if (existing) return existing
  const log = logStream ?? (await jsm.streams.info(streamNameOf(engine)))
  return jsm.streams.add({
    name: bodyStreamNameOf(engine),
    subjects: [bodySubjectsOf(engine)],
    num_replicas: log.config.num_replicas,
    storage: log.config.storage,
    max_msgs_per_subject: 1,
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
  return m ? readEntry(jsm, engine, m.seq, m.data, m.header) : undefined
}
