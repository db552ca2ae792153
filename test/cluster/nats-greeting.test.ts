import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { describe, expect, it } from 'vitest'
import { openNatsLink } from '../../src/cluster/link.js'
import { startNats } from '../support/nats-server.js'

/** Connections open to `port` from a client's side (ESTABLISHED, its remote end the port), from the kernel's table. */
const openTo = (port: number) =>
  readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 3 && Number.parseInt(f[2]!.split(':')[1]!, 16) === port && f[3] === '01').length
const link = (url: string) => openNatsLink({ servers: [url], engine: 'greeting', connectTimeoutMs: 300 } as Parameters<typeof openNatsLink>[0], 'greeting test')

describe('connecting to NATS', { timeout: 20_000 }, () => {
  it('given a server that takes connections and never greets them (paused), each try fails naming it and leaves no socket behind', async () => {
    const nats = await startNats()
    nats.pause()
    try {
      for (let i = 0; i < 3; i++) await expect(link(nats.url)).rejects.toThrow(/no greeting from the server within 300 ms \(timeout\)/)
      expect(openTo(nats.port)).toBe(0)
    } finally {
      nats.resume()
    }
  })

  it('given a listener that is not NATS, says so', async () => {
    const http = createServer((_, res) => res.end('hello'))
    // an HTTP server waits for a request: it sends nothing first, as a paused NATS would not
    http.on('connection', (s) => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'))
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
    const port = (http.address() as { port: number }).port
    try {
      await expect(link(`nats://127.0.0.1:${port}`)).rejects.toThrow(`the server at 127.0.0.1:${port} does not speak NATS (it sent 'HTTP/1.1 400 Bad Req')`)
    } finally {
      http.closeAllConnections()
      await new Promise((r) => http.close(r))
    }
  })

  it('given a running server, connects', async () => {
    const nats = await startNats()
    const nc = await link(nats.url)
    expect(nc.isClosed()).toBe(false)
    await nc.close()
  })
})
