import type { Exchange } from 'ccxt'
import { UNREACHABLE, type VenueError } from '../errors.js'
import type { ConnectionChange } from '../gateway.js'

/**
 * Whether the venue answers the gateway's background work (the order stream, or polling),
 * told to listeners once per change: lost on the first failure that means it is unreachable,
 * regained on the next answer (or, for a stream, a WebSocket opened again).
 */
export class Connectivity {
  private lostBecause: string | undefined
  private readonly handlers = new Set<(change: ConnectionChange) => void>()

  /** `onError` hears of a listener that threw; the others are still told. */
  constructor(private readonly onError: (e: unknown) => void) {}

  subscribe(handler: (change: ConnectionChange) => void): () => void {
    this.handlers.add(handler)
    return () => void this.handlers.delete(handler)
  }

  get connected(): boolean {
    return this.lostBecause === undefined
  }

  failed(error: VenueError): void {
    if (!UNREACHABLE.has(error.kind) || this.lostBecause !== undefined) return
    this.lostBecause = error.message
    this.emit({ connected: false, reason: error.message })
  }

  answered(): void {
    if (this.lostBecause === undefined) return
    this.lostBecause = undefined
    this.emit({ connected: true })
  }

  clear(): void {
    this.handlers.clear()
  }

  private emit(change: ConnectionChange): void {
    for (const h of [...this.handlers]) {
      try {
        h(change)
      } catch (e) {
        this.onError(e)
      }
    }
  }
}

/**
 * Calls `onOpen` whenever one of the instance's WebSockets opens (ccxt.pro's `onConnected`
 * hook, bound when a client is created, so this must run before any is). Returns the restore.
 */
export function watchSocketsOpening(exchange: Exchange, onOpen: () => void): () => void {
  const target = exchange as unknown as { onConnected?: (...args: unknown[]) => unknown }
  const original = target.onConnected
  if (typeof original !== 'function') return () => undefined
  const hooked = function (this: unknown, ...args: unknown[]): unknown {
    onOpen()
    return original.apply(this, args)
  }
  target.onConnected = hooked
  return () => {
    if (target.onConnected === hooked) target.onConnected = original
  }
}
