import type { Logger } from 'pino'
import type { EventData } from '../events/catalogue.js'

export type Refused = EventData<'access.refused'>
export type Refusal = Omit<Refused, 'count' | 'since'>

export type RefusalRecorder = {
  /**
   * Note one refused request: recorded at once if it is the first of its kind in the window, else
   * counted. `detail` (the Origin a cross-origin request named) goes to the process log line only.
   */
  refused(r: Refusal, detail?: Record<string, string>): void
  /**
   * The server is closing: every count still open goes to the process log only. The daemon has
   * recorded its run's end by then (or handed the log over), so the event log takes nothing more.
   */
  close(): void
}

/**
 * Refused requests, into the event log and the process log without letting a flood fill either:
 * per credential, route and cause, the first refusal is recorded at once (an operator sees it
 * now), the rest of the window only counted, and each window that counted any ends in one row
 * with its count. A kind that stays quiet for a whole window is forgotten. At most `maxKinds`
 * kinds are tracked; past that, refusals of new kinds are counted under one `(others)` kind.
 * Credentials are the configured names and routes the fixed table, so the limit is a safeguard.
 */
export function refusalRecorder(input: {
  record: (r: Refused) => void
  logger?: Logger | undefined
  windowMs?: number
  maxKinds?: number
  now?: () => number
}): RefusalRecorder {
  const windowMs = input.windowMs ?? 60_000
  const maxKinds = input.maxKinds ?? 1_000
  const now = input.now ?? Date.now
  const open = new Map<string, { refusal: Refusal; count: number; since: number }>()
  let timer: ReturnType<typeof setInterval> | undefined

  const write = (r: Refused, detail?: Record<string, string>, toEventLog = true) => {
    // `user`, not `name`: the process log's lines carry the logger's own name
    const { name, ...rest } = r
    input.logger?.warn({ ...detail, ...rest, user: name }, r.count === 1 ? 'admin request refused' : `admin requests refused: ${r.count} in the last window`)
    if (!toEventLog) return
    try {
      input.record(r)
    } catch (e) {
      // a closed or failing log must not turn a refusal into a 500: the process log has it
      input.logger?.warn({ err: e instanceof Error ? e.message : String(e) }, 'a refused request was not recorded in the event log')
    }
  }
  const flush = (toEventLog = true) => {
    for (const [key, kind] of open) {
      if (kind.count === 0) {
        open.delete(key)
        continue
      }
      write({ ...kind.refusal, count: kind.count, since: kind.since }, undefined, toEventLog)
      kind.count = 0
      kind.since = now()
    }
    if (open.size === 0 && timer) {
      clearInterval(timer)
      timer = undefined
    }
  }
  return {
    refused(refusal, detail) {
      let key = `${refusal.why}\u0000${refusal.name}\u0000${refusal.role}\u0000${refusal.route}`
      let kind = open.get(key)
      if (!kind && open.size >= maxKinds) {
        refusal = { route: '(others)', name: '(others)', role: '(others)', why: refusal.why }
        key = `${refusal.why}\u0000(others)`
        kind = open.get(key)
      }
      if (kind) {
        if (kind.count === 0) kind.since = now()
        kind.count++
        return
      }
      open.set(key, { refusal, count: 0, since: now() })
      write({ ...refusal, count: 1, since: now() }, detail)
      if (!timer) {
        timer = setInterval(flush, windowMs)
        timer.unref()
      }
    },
    close() {
      flush(false)
      if (timer) clearInterval(timer)
      timer = undefined
      open.clear()
    },
  }
}

/** Distinct addresses a window's count line names; past them, only how many of its requests came from others. */
const MAX_ADDRESSES_NAMED = 10

export type CoalescedWarnings = {
  /** Warn about one occurrence of `kind`: the first of a window at once, the rest counted into one line per window. */
  warn(kind: string, msg: string, detail?: Record<string, unknown>): void
  close(): void
}

/**
 * Warnings a client can cause at will (requests that cannot be read, connections past the cap),
 * kept from filling the process log: per kind, the first is written at once, the rest of the
 * window only counted, and each window that counted any ends in one line with its count.
 */
export function coalescedWarnings(logger: Logger | undefined, windowMs = 60_000): CoalescedWarnings {
  // the addresses counted, so a client that keeps its cause's line open cannot hide who else came
  const open = new Map<string, { msg: string; count: number; addresses: Set<string>; fromOtherAddresses: number }>()
  let timer: ReturnType<typeof setInterval> | undefined
  const flush = () => {
    for (const [kind, k] of open) {
      if (k.count > 0) {
        const from =
          k.addresses.size > 0 ? { addresses: [...k.addresses], ...(k.fromOtherAddresses > 0 ? { fromOtherAddresses: k.fromOtherAddresses } : {}) } : {}
        logger?.warn({ kind, count: k.count, ...from }, `${k.msg}: ${k.count} more in the last window`)
      } else open.delete(kind)
      k.count = 0
      k.addresses.clear()
      k.fromOtherAddresses = 0
    }
    if (open.size === 0 && timer) {
      clearInterval(timer)
      timer = undefined
    }
  }
  return {
    warn(kind, msg, detail) {
      const k = open.get(kind)
      if (k) {
        k.count++
        const address = detail?.address
        if (typeof address === 'string' && !k.addresses.has(address)) {
          if (k.addresses.size < MAX_ADDRESSES_NAMED) k.addresses.add(address)
          else k.fromOtherAddresses++
        }
        return
      }
      if (open.size >= 100) return
      open.set(kind, { msg, count: 0, addresses: new Set(), fromOtherAddresses: 0 })
      logger?.warn({ ...detail, kind }, msg)
      if (!timer) {
        timer = setInterval(flush, windowMs)
        timer.unref()
      }
    },
    close() {
      flush()
      if (timer) clearInterval(timer)
      timer = undefined
      open.clear()
    },
  }
}
