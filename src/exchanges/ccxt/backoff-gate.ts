/** How long to hold a venue's calls after it says "too many requests" without saying how long. */
export type BackoffPolicy = {
  /** The first wait; each further refusal in a row doubles it. */
  baseMs: number
  maxMs: number
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 30_000 }

/** Who goes first when the gate reopens: 0 mass cancel, 1 the rest of a shutdown (cancels, the dead man's switch), 2 everything else. */
export type Priority = 0 | 1 | 2

/** A call let through. The probe is the one call sent after a refusal to learn whether the venue takes requests again. */
export type Ticket = { readonly probe: boolean }

/** How a call let through ended: the venue answered (anything but a rate limit), or no answer came (timeout, dropped connection). */
export type Outcome = 'answered' | 'no-answer'

/** Why a call was not let through: it would have to wait past its deadline, or its signal fired while it waited. */
export class GateRefusal extends Error {
  constructor(
    readonly reason: 'too-late' | 'aborted',
    readonly waitMs: number,
  ) {
    super(reason === 'too-late' ? `the venue asked for ${waitMs} ms without requests, past the call's deadline` : 'aborted while waiting')
  }
}

type Waiter = {
  priority: Priority
  deadlineAt: number
  resolve: (t: Ticket) => void
  reject: (e: GateRefusal) => void
  detach: () => void
}

/**
 * One venue's rate-limit gate: a refusal (429, 418, Retry-After) closes it for every call to the
 * venue, for the time the venue asked, else for `baseMs` doubling up to `maxMs`. When the time is
 * up one call goes first (the waiting call of highest priority); only when the venue answers it
 * do the others follow, highest priority first. A call whose deadline would pass before the gate
 * opens is refused at once rather than parked.
 */
export class BackoffGate {
  private closedUntil = 0
  /** Refusals in a row; 0 when the venue's last word was an answer. */
  private level = 0
  private probing = false
  private readonly waiters: Waiter[] = []
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** How long the gate stays closed from now, in ms (0 when open). */
  get closedForMs(): number {
    return Math.max(0, this.closedUntil - this.now())
  }

  /** Resolves when the call may go; rejects with a GateRefusal when it may not go in time. */
  pass(priority: Priority, signal: AbortSignal, deadlineAt = Number.POSITIVE_INFINITY): Promise<Ticket> {
    if (signal.aborted) return Promise.reject(new GateRefusal('aborted', this.closedForMs))
    const now = this.now()
    if (this.closedUntil > deadlineAt) return Promise.reject(new GateRefusal('too-late', Math.ceil(this.closedUntil - now)))
    if (this.waiters.length === 0 && !this.probing && now >= this.closedUntil) {
      if (this.level === 0) return Promise.resolve({ probe: false })
      this.probing = true
      return Promise.resolve({ probe: true })
    }
    return new Promise<Ticket>((resolve, reject) => {
      const onAbort = (): void => {
        this.remove(waiter)
        reject(new GateRefusal('aborted', this.closedForMs))
      }
      const waiter: Waiter = { priority, deadlineAt, resolve, reject, detach: () => signal.removeEventListener('abort', onAbort) }
      signal.addEventListener('abort', onAbort, { once: true })
      // stable: among equals, first come first served
      const at = this.waiters.findIndex((w) => w.priority > priority)
      this.waiters.splice(at < 0 ? this.waiters.length : at, 0, waiter)
      this.drain()
    })
  }

  /**
   * The venue refused a request for its rate. A refusal of a request sent before the gate closed
   * does not lengthen the wait again unless the venue names a later time itself.
   */
  refused(ticket: Ticket, retryAfterMs?: number): void {
    const now = this.now()
    const escalate = ticket.probe || (this.level === 0 && now >= this.closedUntil)
    if (ticket.probe) this.probing = false
    if (escalate) {
      const wait = retryAfterMs ?? Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** this.level)
      this.level++
      this.closedUntil = Math.max(this.closedUntil, now + wait)
    } else if (retryAfterMs !== undefined) {
      this.closedUntil = Math.max(this.closedUntil, now + retryAfterMs)
    }
    for (const w of [...this.waiters]) {
      if (this.closedUntil <= w.deadlineAt) continue
      this.remove(w)
      w.reject(new GateRefusal('too-late', Math.ceil(this.closedUntil - now)))
    }
    this.drain()
  }

  /** A call let through ended without a rate-limit refusal. Only the probe's outcome reopens the gate. */
  settled(ticket: Ticket, outcome: Outcome): void {
    if (!ticket.probe) return
    this.probing = false
    if (outcome === 'answered') this.level = 0
    this.drain()
  }

  private drain(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.waiters.length === 0 || this.probing) return
    const wait = this.closedUntil - this.now()
    if (wait > 0) {
      this.timer = setTimeout(() => this.drain(), wait)
      return
    }
    if (this.level > 0) {
      this.probing = true
      this.take(this.waiters[0]!).resolve({ probe: true })
      return
    }
    // in priority order: ccxt sends an instance's requests in the order they are made
    for (const w of [...this.waiters]) this.take(w).resolve({ probe: false })
  }

  private take(w: Waiter): Waiter {
    this.remove(w)
    return w
  }

  private remove(w: Waiter): void {
    const i = this.waiters.indexOf(w)
    if (i >= 0) this.waiters.splice(i, 1)
    w.detach()
    if (this.waiters.length === 0 && this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }
}
