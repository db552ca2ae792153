import { VenueError } from '../errors.js'
import type { SimMethod } from './config.js'
import type { Faults } from './faults.js'

type Pending = { reject: (e: unknown) => void; timer?: ReturnType<typeof setTimeout> }

/**
 * Runs each gateway call through the injected faults: hang, disconnect, 429, latency. Every
 * call that has not answered is tracked, so close() can release it and leave nothing behind.
 */
export class FaultInjector {
  private readonly inFlight = new Set<Pending>()
  private readonly hung = new Set<Pending>()
  closed = false
  disconnected = false

  constructor(
    private readonly venue: string,
    private readonly faults: Faults,
  ) {}

  run<T>(method: SimMethod, work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new VenueError(this.venue, 'network', `${method}: the gateway is closed`))
    if (this.faults.hangs(method)) {
      return new Promise<T>((_, reject) => {
        this.hung.add({ reject })
      })
    }
    if (this.disconnected) return Promise.reject(this.disconnectedError(method))
    if (this.faults.rateLimited(method)) {
      return Promise.reject(new VenueError(this.venue, 'rate-limit', `${method}: 429 too many requests`, { venueCode: '429', refused: true }))
    }
    const ms = this.faults.latencyMs(method)
    if (ms <= 0) return Promise.resolve().then(work)
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { reject }
      pending.timer = setTimeout(() => {
        this.inFlight.delete(pending)
        if (this.disconnected) return reject(this.disconnectedError(method))
        try {
          resolve(work())
        } catch (e) {
          reject(e)
        }
      }, ms)
      this.inFlight.add(pending)
    })
  }

  /** How many calls are waiting on latency or hung; 0 after close(). */
  get pending(): number {
    return this.inFlight.size + this.hung.size
  }

  /** Answers every call still waiting with a network error and clears its timer. */
  releaseAll(reason: string): void {
    for (const p of this.inFlight) {
      clearTimeout(p.timer)
      p.reject(new VenueError(this.venue, 'network', reason))
    }
    for (const p of this.hung) p.reject(new VenueError(this.venue, 'network', reason))
    this.inFlight.clear()
    this.hung.clear()
  }

  private disconnectedError(method: SimMethod): VenueError {
    return new VenueError(this.venue, 'network', `${method}: not connected to the venue`)
  }
}
