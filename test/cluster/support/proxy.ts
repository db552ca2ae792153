import { createServer, connect, type Server, type Socket } from 'node:net'
import { freePort } from '../../support/nats-server.js'

/**
 * A TCP proxy in front of a NATS server, so one engine's link can be cut while the others keep
 * theirs: `cut()` drops every connection through it and refuses new ones until `restore()`.
 */
export type LinkProxy = { url: string; cut(): void; restore(): Promise<void>; close(): Promise<void> }

export async function linkProxy(targetPort: number): Promise<LinkProxy> {
  const port = await freePort()
  const sockets = new Set<Socket>()
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
        upstream.pipe(client)
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
  }
}
