import { beforeAll } from 'vitest'
import { startNats, type NatsNode } from './nats-server.js'

/** The server a file's tests share, as `natsForFile` gives it: read it once the tests run. */
export type NatsForFile = {
  /** The server's client URL. */
  readonly url: string
  /** The server itself, for a test that stops, pauses or restarts it. */
  readonly node: NatsNode
}

/**
 * One JetStream server for the tests of a file: started before its first test, and put away at
 * its end by `startNats`'s own cleanup. Call it at the file's top level; what it returns can be
 * read from the file's hooks and tests, not while the file is being loaded.
 */
export function natsForFile(options: { maxPayload?: number } = {}): NatsForFile {
  let server: NatsNode | undefined
  beforeAll(async () => {
    server = await startNats(options)
  })
  const started = (): NatsNode => {
    if (!server) throw new Error('natsForFile: the server starts before the file’s first test; read it from a hook or a test')
    return server
  }
  return {
    get url() {
      return started().url
    },
    get node() {
      return started()
    },
  }
}
