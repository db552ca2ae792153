import type { EventLog } from '../core/log/event-log.js'
import { LogWriteFailed } from '../core/log/errors.js'
import type { EventInput } from '../events/index.js'
import type { Logger } from './logger.js'
import type { Notifier } from './notify/index.js'
import { sayOnStderr } from './stderr.js'

/** The first write the log could not make, and how many failed since. */
export type LogFault = {
  /** The first failure's message (`event log write failed (SQLITE_FULL): …`). */
  error: string
  /** When it was first seen (ms since the epoch, the daemon's clock). */
  at: number
  /** Writes that failed since, the first included (an append or a batch, each one write; a lost group is `groupLostAfter`). */
  failures: number
  /** Events those writes held: the count the operator's line gives. */
  events: number
  /** Event types that are not in the log because their write failed, in order, the first 100 of them. */
  unrecorded: string[]
  /** In power durability: the seq after which a group that did not commit was lost (its events, however many, are not in the log). */
  groupLostAfter?: number
}

export type LogHealth = {
  /** Undefined while every write has gone in. */
  readonly fault: LogFault | undefined
}

const UNRECORDED_KEPT = 100

/**
 * Watch the log for writes it could not make (an append or batch that threw `LogWriteFailed`, a
 * power-mode group that did not commit), whoever the writer was: the router, a venue's callback,
 * the risk monitor, a shutdown step. The first one calls `onFirstFault` synchronously, inside
 * the failing append, so the daemon can close its gate before the caller even sees the error.
 * A fault is kept for the rest of the run: a log that lost a write stays untrusted until restart,
 * and from then on every append is refused with `LogWriteFailed` before it reaches the file. In
 * power durability a failed group takes earlier appends with it, which their writers may have
 * acted on; refusing what follows keeps anything from building on them (a shutdown step waiting
 * for an outcome the log no longer holds would otherwise retry it forever).
 */
export function watchLogHealth(input: { log: EventLog; now: () => number; onFirstFault: (fault: LogFault) => void; onError: (e: unknown) => void }): LogHealth {
  let fault: LogFault | undefined
  /** A write that failed with its events' `types`, or (`groupLostAfter`) a power-mode group lost whole. */
  const failed = (error: LogWriteFailed, types: readonly string[], groupLostAfter?: number) => {
    const first = fault === undefined
    fault ??= { error: error.message, at: input.now(), failures: 0, events: 0, unrecorded: [] }
    if (groupLostAfter === undefined) fault.failures++
    else fault.groupLostAfter ??= groupLostAfter
    fault.events += types.length
    for (const t of types) if (fault.unrecorded.length < UNRECORDED_KEPT) fault.unrecorded.push(t)
    if (!first) return
    refuseAppends(input.log, (types) => {
      const refused = new LogWriteFailed(undefined, `refused: the log failed a write earlier in this run (${fault?.error})`, undefined)
      failed(refused, types)
      return refused
    })
    try {
      input.onFirstFault(fault)
    } catch (e) {
      // This runs inside the failing append: its own error is the one its caller must see.
      input.onError(e)
    }
  }
  input.log.on('write-failed', ({ error, types }) => failed(error, types))
  input.log.on('fault', ({ error, lastSeq }) => failed(error, [], lastSeq))
  return {
    get fault() {
      return fault
    },
  }
}

/** From now on, every append of this log throws what `refusal` returns, and writes nothing. */
function refuseAppends(log: EventLog, refusal: (types: readonly string[]) => LogWriteFailed): void {
  log.append = (event: EventInput) => {
    throw refusal([event.type])
  }
  log.appendBatch = (events: readonly EventInput[]) => {
    throw refusal(events.map((e) => e.type))
  }
}

/** One line for an operator: what the log could not record during this run. */
export function describeLogFault(fault: LogFault): string {
  // one unit throughout: events, each type once with how many of the first 100 it was
  const counts = new Map<string, number>()
  for (const t of fault.unrecorded) counts.set(t, (counts.get(t) ?? 0) + 1)
  const listed = [...counts].map(([t, n]) => (n > 1 ? `${t} ×${n}` : t)).join(', ')
  const rest = fault.events - fault.unrecorded.length
  const more = rest > 0 ? `, and ${rest} more` : ''
  const writes = fault.failures === fault.events ? '' : ` in ${fault.failures} write(s)`
  const what = [
    ...(fault.events > 0 || fault.groupLostAfter === undefined ? [`could not record ${fault.events} event(s)${writes}`] : []),
    ...(fault.groupLostAfter !== undefined ? [`lost the events after seq ${fault.groupLostAfter} (a group that did not commit)`] : []),
  ].join(' and ')
  const list = fault.unrecorded.length > 0 ? `; not recorded: ${listed}${more}` : ''
  return `the event log ${what} since ${new Date(fault.at).toISOString()}: ${fault.error}${list}`
}

/**
 * What the daemon does on the first write the log could not make: close the gate at once (inside
 * the failing append), then, on the next turn, go HALTED and tell people. The lifecycle and the
 * notifier are read when the fault comes, since they are wired after the log is watched.
 */
export function haltOnLogFault(parts: {
  gate: { halt(reason: string): void }
  logger: Logger
  onError: (e: unknown) => void
  lifecycle: () => { readonly state: string; set(to: 'halted'): void }
  notifier: () => Notifier
}): (fault: LogFault) => void {
  return (fault) => {
    parts.gate.halt(`the event log cannot be written: ${fault.error}`)
    parts.logger.fatal({ error: fault.error }, 'HALTED: the event log cannot be written; trading stops, haltd stays up for the operator')
    setImmediate(() => {
      try {
        const life = parts.lifecycle()
        if (life.state === 'running') life.set('halted')
        parts
          .notifier()
          .notify({ topic: 'log.write-failed', text: `HALTED: the event log cannot be written: ${fault.error}`, severity: 'critical' })
          .catch(parts.onError)
      } catch (e) {
        parts.onError(e)
      }
    })
  }
}

/** How often the daemon looks whether its log's path still names the file it writes. */
export const LOG_FILE_CHECK_MS = 1000

/**
 * Look every `everyMs` whether the log's file, its WAL and WAL index are still the ones opened,
 * and the writer lock still held. One removed or replaced under the daemon goes on taking appends
 * no one would find, and a lock file gone lets a second writer in: `checkFile` makes that a log
 * fault (the gate closes, HALTED), and this saves what the writer still holds beside the path,
 * since the file is gone for good once the process exits. A lock file taken back before anyone
 * wrote the log is only a warning. Returns the stop.
 */
export function watchLogFile(input: { log: EventLog; logger: Logger; everyMs?: number; now: () => number }): () => void {
  const unwatch = input.log.on('lock-retaken', ({ message }) => {
    input.logger.warn({ db: input.log.path }, message)
    sayOnStderr(message)
  })
  const timer = setInterval(() => {
    let lost: string | undefined
    try {
      lost = input.log.checkFile()
    } catch (e) {
      // a look that failed says nothing of the files; the next one looks again
      input.logger.error({ err: e, db: input.log.path }, 'the log file check failed')
      return
    }
    if (lost === undefined) return
    clearInterval(timer)
    unwatch()
    const saved = `${input.log.path}.saved-${new Date(input.now()).toISOString().replace(/[:.]/g, '')}`
    const through = input.log.lastSeq
    const say = (line: string, failed: boolean) => {
      if (failed) input.logger.fatal({ lost, saved }, line)
      else input.logger.warn({ lost, saved }, line)
      sayOnStderr(line)
    }
    input.log.backup(saved).then(
      () => say(`${lost}; what it held, to seq ${through}, is saved in ${saved}`, false),
      (e: unknown) => say(`${lost}; what it held, to seq ${through}, could not be saved in ${saved}: ${e instanceof Error ? e.message : String(e)}`, true),
    )
  }, input.everyMs ?? LOG_FILE_CHECK_MS)
  timer.unref()
  return () => {
    clearInterval(timer)
    unwatch()
  }
}
