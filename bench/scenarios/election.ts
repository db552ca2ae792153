/**
 * A stream leader's election on a three-node JetStream cluster, as `sync` replication meets it: the
 * engine's stream replicated three ways, events appended at a steady rate and each one's
 * acknowledgement waited for as an order's write-ahead waits; then the server that leads the stream
 * is killed. Measured per kill: the raw election (kill to a stream info, asked every 20 ms with a
 * 200 ms timeout, naming another leader), and through haltd's publisher at the configured
 * default `ackTimeoutMs`, the longest write-ahead wait and how many write-aheads failed (a failure
 * halts trading; the default must ride through an election with none). The killed server is started
 * again and caught up between kills. Skipped with the reason when nats-server cannot be started.
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { join } from 'node:path'
import { ReplicationConfig } from '../../src/cluster/replication/config.js'
import { streamNameOf } from '../../src/cluster/replication/log-stream.js'
import { startPublisher } from '../../src/cluster/replication/publisher.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { startNatsCluster, type NatsCluster } from '../../test/support/nats-server.js'
import { median, skippedResult, type BenchContext, type BenchResult, type BenchScenario } from '../harness.js'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))
const EVENT_EVERY_MS = 5

async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const RAW = 'stream leader election: kill of its leader to a new leader named'
  const WAIT = 'sync write-ahead through an election: longest wait at the default ackTimeoutMs'
  const FAILED = 'sync write-ahead through an election: failed write-aheads at the default ackTimeoutMs'
  const kills = ctx.quick ? 1 : 3
  const ackTimeoutMs = ReplicationConfig.parse({}).ackTimeoutMs
  let cluster: NatsCluster
  try {
    cluster = await startNatsCluster(3)
  } catch (e) {
    const why = `a nats-server cluster could not be started: ${messageOf(e).split('\n')[0]}`
    return [skippedResult(RAW, 'ms', why), skippedResult(WAIT, 'ms', why), skippedResult(FAILED, 'ms', why)]
  }
  const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 50 })
  const log = openEventLog({ path: join(ctx.tmpDir, 'election.db') })
  const engine = 'bench-election'
  const stream = streamNameOf(engine)
  const raw: number[] = []
  const waits: number[] = []
  let failed = 0
  try {
    const publisher = await startPublisher({ nc, log, engine, replicas: 3, ackTimeoutMs })
    const jsm = await jetstreamManager(nc, { timeout: 200 })
    // the order flow: one event every few ms, each one's acknowledgement waited for as a write-ahead
    let flowing = true
    let longest = 0
    const flow = (async () => {
      let n = 0
      while (flowing) {
        const e = log.append({ type: 'market.mark', data: { venue: 'sim-a', symbol: 'BTC/USDT', price: 50_000 + (n++ % 100) } })
        const asked = performance.now()
        const waited = publisher.waitFor(e.seq, ackTimeoutMs).then(
          () => (longest = Math.max(longest, performance.now() - asked)),
          () => failed++,
        )
        void waited
        await sleep(EVENT_EVERY_MS)
      }
    })()
    for (let k = 0; k < kills; k++) {
      await sleep(1_000)
      longest = 0
      const info = await jsm.streams.info(stream)
      const leaderName = info.cluster?.leader
      const node = cluster.nodes.find((n) => n.name === leaderName)
      if (!node) throw new Error(`no node leads ${stream} (cluster info: ${JSON.stringify(info.cluster)})`)
      const killedAt = performance.now()
      await node.kill()
      // elected: a server other than the killed one says it leads the stream
      for (;;) {
        const now = await jsm.streams.info(stream).catch(() => undefined)
        if (now?.cluster?.leader && now.cluster.leader !== leaderName) break
        if (performance.now() - killedAt > 60_000) throw new Error('no new stream leader within 60 s of the kill')
        await sleep(20)
      }
      raw.push(performance.now() - killedAt)
      // every write-ahead asked before the election was over has settled (answered or failed) before the longest is read
      const asked = log.lastSeq
      await publisher.waitFor(asked, ackTimeoutMs + 1_000).catch(() => undefined)
      await sleep(100)
      waits.push(longest)
      ctx.log(
        `kill ${k + 1}: ${leaderName}; a new stream leader after ${raw.at(-1)!.toFixed(0)} ms; longest write-ahead ${longest.toFixed(0)} ms; failed so far ${failed}`,
      )
      await node.start()
      // the restarted server catches up before the next kill (else a kill could leave no quorum)
      const until = performance.now() + 30_000
      while (performance.now() < until) {
        const c = (await jsm.streams.info(stream).catch(() => undefined))?.cluster
        if (c?.replicas?.length === 2 && c.replicas.every((r) => r.current)) break
        await sleep(100)
      }
    }
    flowing = false
    await flow
    await publisher.stop()
  } finally {
    log.close()
    await nc.close().catch(() => undefined)
    await cluster.close()
  }
  const note = `${kills} kill(s) of the stream's leader on a 3-node loopback cluster, R3; events every ${EVENT_EVERY_MS} ms`
  return [
    {
      name: RAW,
      unit: 'ms',
      value: Math.max(...raw),
      samples: raw,
      min: Math.min(...raw),
      max: Math.max(...raw),
      note: `worst; median ${median(raw).toFixed(0)} ms; ${note}`,
    },
    {
      name: WAIT,
      unit: 'ms',
      value: Math.max(...waits),
      samples: waits,
      min: Math.min(...waits),
      max: Math.max(...waits),
      target: { op: '<=', value: ackTimeoutMs, of: 'value' },
      note: `worst; ackTimeoutMs ${ackTimeoutMs}; ${note}`,
    },
    { name: FAILED, unit: 'ops/s', value: failed, target: { op: '<=', value: 0, of: 'value' }, note: `count, not a rate; ${note}` },
  ]
}

export const scenarios: BenchScenario[] = [
  {
    name: 'cluster-election',
    description: "kill the stream leader of a 3-node cluster: the election's length, and sync write-aheads through it at the default ackTimeoutMs",
    run,
  },
]
