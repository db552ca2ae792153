import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEachTest } from './after-each-test.js'

export type Hit = { method: string; path: string; contentType: string | undefined; body: unknown; at: number; topic: string | undefined }

/** How the receiver answers one request: a status, a status with `Retry-After`, or no answer at all. */
export type Answer = number | 'hang' | { status: number; retryAfter: string }

async function closeServer(s: Server): Promise<void> {
  s.closeAllConnections()
  await new Promise((r) => s.close(r))
}

/**
 * A webhook's receiving end on 127.0.0.1 (port 0). `answers` picks the answer to each request: by
 * its place among all requests (an array), or by the notification's topic and how many of that
 * topic came before (a function). Anything not planned is 200.
 */
export async function webhookReceiver(
  answers: Answer[] | ((topic: string | undefined, nth: number) => Answer | undefined),
): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = ''
    req.on('data', (c) => (text += c))
    req.on('end', () => {
      const body = JSON.parse(text) as { topic?: string }
      const topic = typeof body.topic === 'string' ? body.topic : undefined
      const nth = hits.filter((h) => h.topic === topic).length
      hits.push({ method: req.method!, path: req.url!, contentType: req.headers['content-type'], body, at: Date.now(), topic })
      const answer = (Array.isArray(answers) ? answers[hits.length - 1] : answers(topic, nth)) ?? 200
      if (answer === 'hang') return
      if (typeof answer === 'number') return void res.writeHead(answer).end('ok')
      res.writeHead(answer.status, { 'retry-after': answer.retryAfter }).end('slow down')
    })
  })
  afterEachTest(() => closeServer(server))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/secretpath`, hits }
}
