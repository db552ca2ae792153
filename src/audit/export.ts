import { once } from 'node:events'
import type { Writable } from 'node:stream'
import type { Envelope } from '../events/index.js'

export type ExportFormat = 'ndjson' | 'csv'

const CSV_COLUMNS = ['seq', 'id', 'type', 'v', 'ts', 'time', 'stream', 'causationId', 'correlationId', 'data', 'prevHash', 'hash'] as const

/** RFC 4180: quote a field that holds a comma, quote or line break, doubling the quotes. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value
}

function csvLine(e: Envelope): string {
  const cells = [
    String(e.seq),
    e.id,
    e.type,
    String(e.v),
    String(e.ts),
    new Date(e.ts).toISOString(),
    e.stream,
    e.causationId ?? '',
    e.correlationId ?? '',
    JSON.stringify(e.data),
    e.prevHash,
    e.hash,
  ]
  return `${cells.map(csvField).join(',')}\r\n`
}

function ndjsonLine(e: Envelope): string {
  return `${JSON.stringify(e)}\n`
}

/**
 * Write events to a stream, honouring backpressure so a million-event export holds one page in
 * memory, not the whole output. Resolves with the number of events written.
 */
export async function writeExport(events: Iterable<Envelope>, format: ExportFormat, out: Writable): Promise<number> {
  const line = format === 'csv' ? csvLine : ndjsonLine
  if (format === 'csv') out.write(`${CSV_COLUMNS.join(',')}\r\n`)
  let n = 0
  let chunk = ''
  for (const e of events) {
    chunk += line(e)
    n++
    if (chunk.length < 64 * 1024) continue
    const ok = out.write(chunk)
    chunk = ''
    // rejects when the stream fails instead (a full disk, a closed pipe): a wait for 'drain' alone would never end
    if (!ok) await once(out, 'drain')
  }
  if (chunk) out.write(chunk)
  return n
}
