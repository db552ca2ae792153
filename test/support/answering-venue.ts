import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FetchLike } from './fake-binance/index.js'

/**
 * A venue of any family that gives every request the one answer it is told to give (an HTTP
 * status and a body), as a venue in trouble answers them all. A ccxt instance reaches it through
 * `fetchImplementation`, keeping its real URLs, so ccxt's URL-dependent error mapping (Binance's
 * per-market codes) stays exact. For the answers of venues haltd has no fuller imitation of.
 */
export type AnsweringVenue = {
  /** ccxt's `fetchImplementation`: every request, whatever its host, comes here. */
  readonly fetchImplementation: FetchLike
  /** The requests received, as `METHOD host/path` (query left out). */
  readonly requests: string[]
  /** From now on every request is answered so. */
  answer(status: number, body: string): void
  close(): Promise<void>
}

export async function startAnsweringVenue(): Promise<AnsweringVenue> {
  let reply = { status: 503, body: '' }
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.headers['x-venue-host']}${new URL(req.url ?? '/', 'http://x').pathname}`)
    req.resume()
    req.on('end', () => {
      res.writeHead(reply.status, { 'content-type': 'application/json' })
      res.end(reply.body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const fetchImplementation: FetchLike = async (url, init) => {
    const target = new URL(url)
    return fetch(`${origin}${target.pathname}${target.search}`, {
      method: init.method,
      headers: { ...init.headers, 'x-venue-host': target.hostname },
      body: init.body,
      signal: init.signal,
    })
  }
  return {
    fetchImplementation,
    requests,
    answer: (status, body) => {
      reply = { status, body }
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
