import { connect as tcpConnect } from 'node:net'
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node'

/** Connect as the client does, once a server has greeted a probe of ours (see `silentNats`). */
export async function connectNats(options: ConnectionOptions & { servers: string[]; timeout: number }): Promise<NatsConnection> {
  const silent = await silentNats(options.servers, options.timeout)
  if (silent !== undefined) throw new Error(silent)
  try {
    return await connect(options)
  } catch (e) {
    // a server can fall silent between our probe and the client's connect: name it the same way
    const why = e instanceof Error ? e.message : String(e)
    throw new Error(why === 'timeout' ? `no answer from ${options.servers.join(', ')} within ${options.timeout} ms of its greeting (timeout)` : why, {
      cause: e,
    })
  }
}

/**
 * Whether one of `servers` (nats:// or tls:// URLs) greets a new connection, as NATS does with its
 * INFO line, within `timeoutMs`; undefined when one does, else why none did.
 *
 * Asked before the client connects: when the client's connect timeout fires against a server
 * that took the socket and never greeted it (a paused or overloaded one), @nats-io/transport-node
 * 3.x leaves that socket open for good, since it closes only transports that got connected. A
 * process retrying against such a server (the fleet link does, every refresh) would gather one
 * socket per try, and a one-shot command would never end. Our own probe's socket is always closed.
 */
async function silentNats(servers: readonly string[], timeoutMs: number): Promise<string | undefined> {
  const answers = await Promise.all(servers.map((s) => greets(s, timeoutMs)))
  if (answers.some((a) => a === undefined)) return undefined
  return answers.length === 1 ? answers[0] : answers.map((a, i) => `${servers[i]}: ${a}`).join('; ')
}

function greets(server: string, timeoutMs: number): Promise<string | undefined> {
  const url = new URL(server)
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 4222) })
    let heard = ''
    const done = (why: string | undefined) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(why)
    }
    const timer = setTimeout(() => done(`no greeting from the server within ${timeoutMs} ms (timeout)`), timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      heard += chunk.toString('latin1')
      if (heard.startsWith('INFO ')) done(undefined)
      else if (heard.length >= 5) done(`the server at ${url.host} does not speak NATS (it sent '${heard.slice(0, 20)}')`)
    })
    socket.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'connection refused' : e.message))
    socket.on('close', () => done('the server closed the connection before greeting it'))
  })
}
