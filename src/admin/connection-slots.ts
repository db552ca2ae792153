import type { Socket } from 'node:net'

export type ConnectionSlots = {
  /** A connection that just arrived: kept, kept in place of the oldest idle one, or closed at once. */
  admit(socket: Socket): 'kept' | 'replaced' | 'dropped'
  /** The connection is being served (its request read, or upgraded): it is not closed to make room until `release`. */
  serve(socket: Socket): () => void
  readonly size: number
}

/**
 * At most `max` connections, each a descriptor of the process. One past the cap makes room by
 * closing the oldest connection that is not being served (one still sending its request, or idle
 * between requests), and is itself closed only when every other is being served. A client that
 * sends its request a byte at a time (slowloris) therefore holds no slot against one that sends
 * it whole: each newcomer pushes the slowest out, and an operator's request is read in
 * milliseconds.
 */
export function connectionSlots(input: { max: number; onReplaced?: (old: Socket) => void; onDropped?: (socket: Socket) => void }): ConnectionSlots {
  /** Each open connection, oldest first, with how many of its requests are being served. */
  const open = new Map<Socket, { serving: number }>()
  return {
    admit(socket) {
      let kept: 'kept' | 'replaced' = 'kept'
      if (open.size >= input.max) {
        let idle: Socket | undefined
        for (const [s, slot] of open) {
          if (slot.serving === 0) {
            idle = s
            break
          }
        }
        if (!idle) {
          input.onDropped?.(socket)
          socket.destroy()
          return 'dropped'
        }
        open.delete(idle)
        input.onReplaced?.(idle)
        idle.destroy()
        kept = 'replaced'
      }
      open.set(socket, { serving: 0 })
      socket.once('close', () => open.delete(socket))
      return kept
    },
    serve(socket) {
      const slot = open.get(socket)
      if (!slot) return () => undefined
      slot.serving++
      let released = false
      return () => {
        if (released) return
        released = true
        slot.serving--
      }
    },
    get size() {
      return open.size
    },
  }
}
