import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll } from 'vitest'

/** The test's own connection to the file's NATS, as `natsClientForFile` gives it: read it once the tests run. */
export type NatsClientForFile = { readonly nc: NatsConnection }

/**
 * A connection to the file's server (`natsForFile`), opened before the file's first test and closed
 * at its end, before the server goes. Call it at the file's top level, after `natsForFile`.
 */
export function natsClientForFile(nats: { readonly url: string }, options: Omit<ConnectionOptions, 'servers'> = {}): NatsClientForFile {
  let nc: NatsConnection | undefined
  beforeAll(async () => {
    nc = await connect({ servers: nats.url, ...options })
  })
  afterAll(async () => {
    await nc?.close()
  })
  return {
    get nc() {
      if (!nc) throw new Error('natsClientForFile: the connection opens before the file’s first test; read it from a hook or a test')
      return nc
    },
  }
}
