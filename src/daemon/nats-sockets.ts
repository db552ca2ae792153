import { isIP } from 'node:net'
import type { NatsConnection } from '@nats-io/transport-node'
import type { SocketInfo } from '../core/shutdown/handles.js'

/** `host:port` (an IPv6 host bare or in brackets) split at its last colon. */
function split(hostPort: string): { host: string; port: string } {
  const colon = hostPort.lastIndexOf(':')
  const host = hostPort
    .slice(0, colon)
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/^::ffff:/i, '')
  return { host, port: hostPort.slice(colon + 1) }
}

/**
 * Whether an outbound socket is one of this daemon's open links to NATS: to the server a link is
 * connected to now, by its address, or by port alone where the link names the server by a host
 * name (the socket knows only the address it resolved to).
 */
export function isNatsLinkSocket(links: readonly (NatsConnection | undefined)[], socket: SocketInfo): boolean {
  const remote = split(socket.remote)
  for (const link of links) {
    if (!link || link.isClosed()) continue
    const server = link.getServer()
    if (!server) continue
    const { host, port } = split(server)
    if (port === remote.port && (host === remote.host || isIP(host) === 0)) return true
  }
  return false
}
