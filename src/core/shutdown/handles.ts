import { Server, Socket } from 'node:net'

/**
 * What the final health check (graceful step 12) sees still open in this process: network
 * sockets by direction, listening servers, and every other kind of handle by count.
 *
 * By step 12 the venues are closed (step 10) and the services stopped (step 11), so a socket
 * this process opened to the outside is a connection something forgot to close: the check fails
 * on it. Sockets accepted by a server of this process, and the servers themselves, belong to
 * monitoring (the admin API, /events), which by design stops last; they are reported, not failed.
 */
export type SocketInfo = { direction: 'outbound' | 'inbound'; local: string; remote: string }

export type OpenHandles = {
  outbound: SocketInfo[]
  inbound: SocketInfo[]
  /** Listening servers, as `address:port`. */
  servers: string[]
  /** Every active resource by kind (`process.getActiveResourcesInfo()`), timers included. */
  resources: Record<string, number>
}

const hostPort = (address: string | undefined, port: number | undefined): string => `${address ?? '?'}:${port ?? '?'}`

/**
 * Handles that keep the process alive (an unref'd handle does not, and is not listed). Reads
 * `process._getActiveHandles()`, the one place Node lists the socket objects themselves; where
 * it is missing, sockets are counted from the resource kinds and all taken as outbound.
 */
export function openHandles(): OpenHandles {
  const resources: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1
  const list = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles
  if (typeof list !== 'function') {
    const n = (resources.TCPSocketWrap ?? 0) + (resources.TLSSocketWrap ?? 0)
    return { outbound: Array.from({ length: n }, () => ({ direction: 'outbound' as const, local: '?', remote: '?' })), inbound: [], servers: [], resources }
  }
  const outbound: SocketInfo[] = []
  const inbound: SocketInfo[] = []
  const servers: string[] = []
  for (const h of list.call(process)) {
    if (h instanceof Server) {
      const a = h.address()
      servers.push(typeof a === 'string' ? a : a ? hostPort(a.address, a.port) : '?')
      continue
    }
    // pipes (stdio, a parent's IPC channel) are sockets without a remote port: not the network
    if (!(h instanceof Socket) || h.destroyed || (h.remotePort === undefined && !h.connecting)) continue
    const accepted = Boolean((h as Socket & { server?: unknown }).server) // set on sockets a server accepted, null otherwise
    const info: SocketInfo = {
      direction: accepted ? 'inbound' : 'outbound',
      local: hostPort(h.localAddress, h.localPort),
      remote: hostPort(h.remoteAddress, h.remotePort),
    }
    ;(accepted ? inbound : outbound).push(info)
  }
  return { outbound, inbound, servers, resources }
}
