import { hostname } from 'node:os'
import type { NatsConnection } from '@nats-io/transport-node'
import type { NatsConfig } from './config.js'
import { connectNats } from './greeting.js'

/** The instance name of this process when the config gives none. */
export const instanceOf = (config: NatsConfig): string =>
  config.instance ??
  `${hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 48)}-${process.pid}`

const DEFAULT_PING_INTERVAL_MS = 5_000

/**
 * One connection to NATS for everything this process does there. It reconnects for ever (a desk's
 * NATS restarting must not need a haltd restart); what depends on it watches `status()`.
 */
export async function openNatsLink(config: NatsConfig, name: string): Promise<NatsConnection> {
  return connectNats({
    servers: config.servers,
    name,
    token: config.token,
    timeout: config.connectTimeoutMs,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: config.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
    maxPingOut: 2,
  })
}
