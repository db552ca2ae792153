import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs'
import { z } from 'zod'
import type { EventLog } from '../core/log/event-log.js'
import type { Logger } from './logger.js'

/**
 * An emergency the log could not record (a full disk) still latches the kill switch for the next
 * start. The log cannot hold it, and a full disk takes no new file either, so each run reserves
 * this file's bytes beside the log while there is room, and the emergency overwrites them in
 * place, which needs no new space. The next start records the latch in the log and blanks the file.
 */
const RESERVED_BYTES = 4096

export const unrecordedEmergencyPath = (logPath: string): string => `${logPath}.unrecorded-emergency`

const Kept = z.object({ reason: z.string(), at: z.string(), error: z.string(), pid: z.number() })
export type UnrecordedEmergency = z.infer<typeof Kept>

const blank = () => Buffer.alloc(RESERVED_BYTES, 0x20)

/** Overwrite the reserved bytes from the start, never past them; fsync'd. */
function overwrite(path: string, bytes: Buffer, flags: 'r+' | 'w'): void {
  const fd = openSync(path, flags, 0o600)
  try {
    writeSync(fd, bytes, 0, bytes.length, 0)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Reserve the file for this run (blank, its full size), where the disk has room; a failure only means the latch may not be kept. */
export function reserveUnrecordedEmergency(logPath: string, logger: Logger): void {
  try {
    overwrite(unrecordedEmergencyPath(logPath), blank(), 'w')
  } catch (e) {
    logger.warn(
      { err: e },
      'cannot reserve the file that keeps an emergency the log could not record: such an emergency would not latch the kill switch for the next start',
    )
  }
}

/** Keep an emergency the log refused, in the reserved bytes; the reason it could not be kept, or undefined. */
export function keepUnrecordedEmergency(logPath: string, kept: UnrecordedEmergency): string | undefined {
  let text = JSON.stringify(kept)
  if (Buffer.byteLength(text) > RESERVED_BYTES) text = JSON.stringify({ ...kept, error: kept.error.slice(0, 1000), reason: kept.reason.slice(0, 1000) })
  const bytes = blank()
  bytes.write(text, 0, 'utf8')
  try {
    overwrite(unrecordedEmergencyPath(logPath), bytes, 'r+')
    return undefined
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

/**
 * At start, before anything reads the kill switch: an emergency a previous run kept here is
 * recorded as the kill switch latched, then the file is blanked. Bytes that are not blank and do
 * not parse latch it too: they can only be an emergency's, cut short.
 */
export function recordUnrecordedEmergency(log: EventLog, logger: Logger): void {
  const path = unrecordedEmergencyPath(log.path)
  let text: string
  try {
    text = readFileSync(path, 'utf8').trim()
  } catch {
    return
  }
  if (text === '') return
  let kept: UnrecordedEmergency | undefined
  try {
    kept = Kept.parse(JSON.parse(text))
  } catch {
    kept = undefined
  }
  const what = kept
    ? `an emergency shutdown (${kept.reason}) at ${kept.at} by pid ${kept.pid} could not be recorded (${kept.error})`
    : `an emergency shutdown could not be recorded, and what was kept of it in ${path} cannot be read`
  log.appendBatch([
    {
      type: 'killswitch.activated',
      data: { reason: `${what}; recorded at the next start`.slice(0, 2000), origin: 'restart', action: 'EMERGENCY', trigger: 'unrecorded-emergency' },
    },
  ])
  logger.warn({ path }, `kill switch latched: ${what}`)
  try {
    overwrite(path, blank(), 'r+')
  } catch (e) {
    // the latch is in the log now; a file left as it is only records it again at the next start
    logger.warn({ err: e, path }, 'cannot blank the file that kept the emergency: the next start records it again')
  }
}
