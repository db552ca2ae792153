import type { WebSocket } from 'ws'
import type { Envelope } from '../events/envelope.js'
import type { EventLog } from '../core/log/event-log.js'

/**
 * Frames on `/events`: `{ kind: 'event', event }` for each envelope in seq order, and once,
 * when the catch-up has reached the head, `{ kind: 'caught-up', seq }`; live events follow.
 */
export type EventsFrame = { kind: 'event'; event: Envelope } | { kind: 'caught-up'; seq: number }

const PAGE = 500
/** Past this much unsent data the catch-up waits for the client to read. */
const HIGH_WATER = 1 << 22
/** A live client this far behind is cut off; it reconnects with `from` where it stopped. */
const CUT_OFF = 1 << 25

const frame = (f: EventsFrame) => JSON.stringify(f)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** The rest of the event loop's work (orders, venues, other clients) goes between two pages. */
const turn = () => new Promise<void>((r) => setImmediate(r))

/**
 * Catch-up a page at a time (each page its own turn of the event loop, so a long catch-up never
 * holds up the daemon's other work; pausing while the client is slow, so a long log never sits in
 * memory), then `log.subscribe` from the next seq: its synchronous catch-up covers whatever was
 * appended meanwhile, so no event is lost or repeated between the two phases.
 */
export function streamEvents(ws: WebSocket, log: EventLog, from: number): void {
  let next = from
  let closed = false
  let unsubscribe: (() => void) | undefined
  ws.on('close', () => {
    closed = true
    unsubscribe?.()
  })
  ws.on('message', () => {
    // The stream is one-way; a client that talks is told so, not served.
    ws.close(1003, 'this socket only sends')
  })
  const run = async () => {
    // only what is committed: in power durability the tail of an open group may still roll back
    while (!closed && next <= log.committedSeq) {
      const to = Math.min(log.committedSeq, next + PAGE - 1)
      for (const event of log.read({ from: next, to })) ws.send(frame({ kind: 'event', event }))
      next = to + 1
      await turn()
      while (!closed && ws.bufferedAmount > HIGH_WATER) await sleep(5)
    }
    if (closed) return
    unsubscribe = log.subscribe(next, (event) => {
      // This runs inside the log's publish: whatever one socket does must not reach the writer.
      try {
        if (ws.bufferedAmount > CUT_OFF) {
          unsubscribe?.()
          ws.close(1013, `too far behind: reconnect with from=${event.seq}`)
          return
        }
        ws.send(frame({ kind: 'event', event }))
      } catch {
        unsubscribe?.()
        ws.terminate()
      }
    })
    ws.send(frame({ kind: 'caught-up', seq: log.committedSeq }))
  }
  run().catch((e: unknown) => {
    if (closed) return
    try {
      ws.close(1011, e instanceof Error ? e.message.slice(0, 100) : 'event stream failed')
    } catch {
      ws.terminate()
    }
  })
}
