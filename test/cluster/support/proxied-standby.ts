import { createLogger } from '../../../src/daemon/logger.js'
import { memoryDestination } from '../../support/memory-log.js'
import { until } from '../../support/until.js'
import { instanceConfig, quietPorts, type FailoverSection, type pairsForFile } from './instances.js'
import { linkProxy, type LinkProxy } from './proxy.js'

/**
 * Engine `engine`'s leader `a`, on NATS directly, and its standby `b` through a proxy of its own
 * (pushed onto `proxies` for the file to close), `b` caught up with `a`'s log. `said` lists what
 * `b` logs at warn and above, each line read (`logged`, as written).
 */
export async function standbyBehindAProxy(
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
