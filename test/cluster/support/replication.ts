import { openEventLog, type EventLog } from '../../../src/core/log/event-log.js'
import { startFollower, type Follower } from '../../../src/cluster/replication/follower.js'
import { startPublisher, type PublisherOptions, type ReplicationPublisher } from '../../../src/cluster/replication/publisher.js'
import { afterEachTest } from '../../support/after-each-test.js'
import { tempDb } from '../../support/tmp.js'
import type { NatsClientForFile } from './nats-client.js'

/** A fresh event log on a file of its own, closed after the test. */
export function newLog(): EventLog {
  const log = openEventLog({ path: tempDb() })
  afterEachTest(() => log.close())
  return log
}

type FollowerOptions = Omit<Parameters<typeof startFollower>[0], 'nc' | 'log' | 'engine'>
type PublishOptions = Omit<PublisherOptions, 'nc' | 'log' | 'engine'>

/**
 * A log's publisher to an engine's stream and a follower of that stream into a log, over the file's
 * client; each is stopped after the test that started it, before the logs it holds are closed.
 */
export function replicationOver(client: NatsClientForFile) {
  return {
    async publish(log: EventLog, engine: string, options: PublishOptions = {}): Promise<ReplicationPublisher> {
      const p = await startPublisher({ nc: client.nc, log, engine, ...options })
      afterEachTest(() => p.stop(500))
      return p
    },
    async follow(log: EventLog, engine: string, options: FollowerOptions = {}): Promise<Follower> {
      const f = await startFollower({ nc: client.nc, log, engine, ...options })
      afterEachTest(() => f.stop())
      return f
    },
  }
}
