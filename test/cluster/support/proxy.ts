import { createServer, connect, type Server, type Socket } from 'node:net'
import { freePort } from '../../support/nats-server.js'

/**
 * A TCP proxy in front of a NATS server, so one engine's link can be cut while the others keep
 * theirs: `cut()` drops every connection through it and refuses new ones until `restore()`.
 * `slow(ms)` holds each chunk the server sends for `ms` before passing it on (in order; `slow(0)`
 * passes what arrives next at once, behind what is still held), so every answer to the instance
 * behind it takes that long.
 */
export type LinkProxy = { url: string; cut(): void; restore(): Promise<void>; close(): Promise<void>; slow(ms: number): void }

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

export async function linkProxy(targetPort: number): Promise<LinkProxy> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let delayMs = 0
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
        upstream.on(
          'data',
          delayed(client, () => delayMs),
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
  }
}
