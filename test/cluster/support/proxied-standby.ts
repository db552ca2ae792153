import { afterEach } from 'vitest'
import { createLogger } from '../../../src/daemon/logger.js'
import { memoryDestination } from '../../support/memory-log.js'
import { natsForFile } from '../../support/nats-for-file.js'
import { until } from '../../support/until.js'
import { instanceConfig, pairsForFile, quietPorts, type FailoverSection } from './instances.js'
import { natsClientForFile } from './nats-client.js'
import { linkProxy, type LinkProxy } from './proxy.js'

/**
 * A file's NATS, its own client there, its leaders and standbys under `failover`, and
 * `standbyBehindAProxy(engine)`: each proxy closed after its test.
 */
export function proxiedStandbysForFile(failover: FailoverSection) {
  const nats = natsForFile()
  const client = natsClientForFile(nats)
  const pairs = pairsForFile(nats, failover)
  const proxies: LinkProxy[] = []
  afterEach(async () => {
    for (const p of proxies.splice(0)) await p.close()
  })
  return {
    client,
    pairs,
    /** See `standbyBehindAProxy`; `section` where not the file's failover section. */
    standbyBehindAProxy: (engine: string, section: FailoverSection = failover) => standbyBehindAProxy(pairs, nats, proxies, engine, section),
  }
}

/**
 * Engine `engine`'s leader `a`, on NATS directly, and its standby `b` through a proxy of its own
 * (pushed onto `proxies` for the file to close), `b` caught up with `a`'s log. `said` lists what
 * `b` logs at warn and above, each line read (`logged`, as written).
 */
async function standbyBehindAProxy(
  pairs: ReturnType<typeof pairsForFile>,
  nats: { readonly node: { port: number } },
  proxies: LinkProxy[],
  engine: string,
  failover: FailoverSection,
) {
  const proxy = await linkProxy(nats.node.port)
  proxies.push(proxy)
  const a = await pairs.primary(pairs.config(engine, 'a'))
  const log = memoryDestination()
  const b = await pairs.standby(instanceConfig(proxy.url, engine, 'b', failover), {
    ...quietPorts(),
    logger: createLogger({ destination: log, level: 'warn' }),
  })
  await until('the standby holds the leader’s log', () => b.status().follower.seq === a.log.committedSeq)
  const said = () => log.lines.map((l) => JSON.parse(l) as { msg: string; reason?: string })
  return { proxy, a, b, said, logged: () => log.lines.join('\n') }
}
