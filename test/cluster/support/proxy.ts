import { createServer, connect, type Server, type Socket } from 'node:net'
import { freePort } from '../../support/nats-server.js'

/**
 * A TCP proxy in front of a NATS server, so one engine's link can be cut while the others keep
 * theirs: `cut()` drops every connection through it and refuses new ones until `restore()`.
 * `slow(ms)` holds each chunk the server sends for `ms` before passing it on (in order; `slow(0)`
 * passes what arrives next at once, behind what is still held), so every answer to the instance
 * behind it takes that long. `hold(text, ms)` holds only the messages the server sends that contain
 * `text` (a kind of answer, e.g. `stream_info_response`) for `ms`, each on its own, while the rest
 * pass by them: one request of the instance answered slowly, its others (its lease's) in time;
 * `hold(undefined)` ends it.
 */
export type LinkProxy = {
  url: string
  cut(): void
  restore(): Promise<void>
  close(): Promise<void>
  slow(ms: number): void
  hold(text: string | undefined, ms?: number): void
}

/** Writes to `to` each chunk `delay()` ms after it came, never before a chunk that came earlier. */
function delayed(to: Socket, delay: () => number): (chunk: Buffer) => void {
  const held: { at: number; chunk: Buffer }[] = []
  let timer: NodeJS.Timeout | undefined
  const pump = () => {
    timer = undefined
    while (held.length > 0 && held[0]!.at <= Date.now()) to.write(held.shift()!.chunk)
    if (held.length > 0) timer = setTimeout(pump, held[0]!.at - Date.now())
  }
  return (chunk) => {
    held.push({ at: Math.max(Date.now() + delay(), held.at(-1)?.at ?? 0), chunk })
    if (!timer) pump()
  }
}

/** Cuts what a NATS server sends into its protocol's frames (a MSG or HMSG with its payload, or one line), in order. */
function framed(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk) => {
    pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk
    for (;;) {
      const eol = pending.indexOf('\r\n')
      if (eol < 0) return
      const line = pending.toString('latin1', 0, eol)
      const op = line.split(' ', 1)[0]!.toUpperCase()
      // MSG and HMSG end their line with the payload's size in bytes; the payload ends with CRLF
      const size = op === 'MSG' || op === 'HMSG' ? eol + 2 + Number(line.slice(line.lastIndexOf(' ') + 1)) + 2 : eol + 2
      if (pending.length < size) return
      onFrame(pending.subarray(0, size))
      pending = pending.subarray(size)
    }
  }
}

export async function linkProxy(targetPort: number): Promise<LinkProxy> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let delayMs = 0
  let held: { text: string; ms: number } | undefined
  let server: Server | undefined
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect({ port: targetPort, host: '127.0.0.1' })
        for (const x of [client, upstream]) {
          sockets.add(x)
          x.on('close', () => sockets.delete(x))
          x.on('error', () => x.destroy())
        }
        client.pipe(upstream)
        const late = delayed(client, () => delayMs)
        upstream.on(
          'data',
          framed((frame) => {
            if (held && frame.includes(held.text)) setTimeout(() => (client.destroyed ? undefined : client.write(frame)), held.ms)
            else late(frame)
          }),
        )
        client.on('close', () => upstream.destroy())
        upstream.on('close', () => client.destroy())
      })
      s.once('error', reject)
      s.listen(port, '127.0.0.1', () => resolve())
      server = s
    })
  await listen()
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const x of sockets) x.destroy()
      if (!server) return resolve()
      server.close(() => resolve())
      server = undefined
    })
  return {
    url: `nats://127.0.0.1:${port}`,
    cut: () => void stop(),
    restore: () => listen(),
    close: stop,
    slow: (ms) => {
      delayMs = ms
    },
    hold: (text, ms = 0) => {
      held = text === undefined ? undefined : { text, ms }
    },
  }
}
