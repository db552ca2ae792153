import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager, StorageType } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterEachTest } from './after-each-test.js'

/**
 * Real `nats-server` processes with JetStream for the tests: one server, or a cluster of three
 * with routes between them, each on free loopback ports with its own store directory. A server
 * can be stopped, paused (SIGSTOP), killed and started again on the same ports and store, so a
 * test can take NATS away from haltd and give it back.
 */

export type NatsNode = {
  readonly name: string
  readonly port: number
  readonly clusterPort: number
  readonly url: string
  readonly storeDir: string
  /** Running now (started and not stopped or killed). */
  running(): boolean
  start(): Promise<void>
  /** SIGTERM and wait for the exit (lame duck mode is skipped). */
  stop(): Promise<void>
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>
  pause(): void
  resume(): void
  /** What the server wrote to its log, for a failing test's message. */
  output(): string
  /** The running server's process id (a benchmark reads its CPU time), or undefined. */
  pid(): number | undefined
}

export type NatsCluster = {
  readonly nodes: NatsNode[]
  /** Every node's client URL, for a connection that fails over between them. */
  readonly urls: string[]
  close(): Promise<void>
}

/** A TCP port nothing listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/**
 * A stop signal takes effect asynchronously: until the kernel reports the process stopped, its
 * threads may still answer a connection made right after `kill`.
 */
function waitStopped(pid: number): void {
  const end = Date.now() + 2_000
  while (Date.now() < end) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (/^\d+ \(.*\) [tT] /.test(stat)) return
  }
  throw new Error(`nats-server ${pid} was sent SIGSTOP and did not stop within 2 s`)
}

async function portAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ port, host })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, output: () => string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`nats-server: ${what} within ${timeoutMs} ms\n${output()}`)
}

type NodeSpec = { name: string; port: number; clusterPort: number; routes: number[]; cluster?: string; dir: string; maxPayload?: number; host?: string }

function natsNode(spec: NodeSpec): NatsNode {
  const storeDir = join(spec.dir, spec.name)
  const confFile = join(spec.dir, `${spec.name}.conf`)
  const host = spec.host ?? '127.0.0.1'
  const lines = [`server_name: ${spec.name}`, `listen: ${host}:${spec.port}`, `jetstream { store_dir: "${storeDir}" }`]
  if (spec.maxPayload !== undefined) lines.push(`max_payload: ${spec.maxPayload}`)
  if (spec.cluster) {
    lines.push(
      `cluster { name: ${spec.cluster}, listen: 127.0.0.1:${spec.clusterPort}, routes: [${spec.routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}] }`,
    )
  }
  writeFileSync(confFile, `${lines.join('\n')}\n`)
  let child: ChildProcess | undefined
  let log = ''
  const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())))
  const node: NatsNode = {
    name: spec.name,
    port: spec.port,
    clusterPort: spec.clusterPort,
    url: `nats://${host}:${spec.port}`,
    storeDir,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    pid: () => child?.pid,
    async start() {
      if (node.running()) return
      const c = spawn('nats-server', ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] })
      child = c
      live.add(c)
      c.once('exit', () => live.delete(c))
      c.stdout?.on('data', (d) => (log += d))
      c.stderr?.on('data', (d) => (log += d))
      const from = log.length
      // ready once this child says so: a port that accepts may belong to another process's server
      await until(
        `${spec.name} listening on ${spec.port}`,
        async () => {
          if (c.exitCode !== null) throw new Error(`nats-server ${spec.name} exited ${c.exitCode}\n${log}`)
          return log.indexOf('Server is ready', from) >= 0 && (await portAccepts(spec.port, host))
        },
        10_000,
        () => log,
      )
    },
    async stop() {
      const c = child
      if (!c || !node.running()) return
      c.kill('SIGTERM')
      await exited(c)
    },
    async kill() {
      const c = child
      if (!c || !node.running()) return
      c.kill('SIGKILL')
      await exited(c)
    },
    pause: () => {
      const pid = child?.pid
      if (!child || pid === undefined || !node.running()) return
      child.kill('SIGSTOP')
      waitStopped(pid)
    },
    resume: () => child?.kill('SIGCONT'),
    output: () => log,
  }
  return node
}

/**
 * One JetStream server on a free port; `close()` stops it and removes its store (done anyway when the
 * test, or the file, ends). `maxPayload`: the largest message it takes, in bytes (1 MiB by default);
 * `host`: the address it listens on (loopback by default; a veth's address for a partition test).
 */
export async function startNats(options: { maxPayload?: number; host?: string } = {}): Promise<NatsNode & { close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'haltd-nats-'))
  const node = natsNode({ name: 'n1', port: await freePort(), clusterPort: 0, routes: [], dir, ...options })
  const server = Object.assign(node, {
    async close() {
      await node.kill()
      rmSync(dir, { recursive: true, force: true })
    },
  })
  // closing twice is harmless: the test's own close comes first, this one catches a failed test's
  afterEachTest(() => server.close())
  await node.start()
  return server
}

/** A JetStream cluster of `size` servers (3 by default) routed to each other, ready for R3 streams. */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'haltd-nats-cluster-'))
  const ports: number[] = []
  const clusterPorts: number[] = []
  for (let i = 0; i < size; i++) {
    ports.push(await freePort())
    clusterPorts.push(await freePort())
  }
  const nodes = ports.map((port, i) =>
    natsNode({ name: `n${i + 1}`, port, clusterPort: clusterPorts[i] as number, routes: clusterPorts.filter((_, j) => j !== i), cluster: 'haltd-test', dir }),
  )
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url),
    async close() {
      await Promise.all(nodes.map((n) => n.kill()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
  afterEachTest(() => cluster.close())
  await Promise.all(nodes.map((n) => n.start()))
  await waitForJetStreamLeader(nodes)
  await waitForPlacement(cluster.urls, size)
  return cluster
}

/**
 * A meta leader may not yet count every server as a peer: until it does, a stream replicated
 * `replicas` ways is refused ("no suitable peers for placement"). Ready once one can be placed.
 */
async function waitForPlacement(urls: string[], replicas: number): Promise<void> {
  const nc = await connect({ servers: urls })
  try {
    // no account check at creation: that request is one that may go unanswered before the cluster is ready
    const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 2_000 })
    let last = ''
    await until(
      `a stream placed on ${replicas} servers`,
      async () => {
        try {
          await jsm.streams.add({ name: 'HARNESS_READY', subjects: ['harness.ready'], num_replicas: replicas, storage: StorageType.Memory })
          await jsm.streams.delete('HARNESS_READY')
          return true
        } catch (e) {
          last = e instanceof Error ? e.message : String(e)
          return false
        }
      },
      20_000,
      () => last,
    )
  } finally {
    await nc.close()
  }
}

/** A cluster serves JetStream only once its meta group has a leader; the servers say so in their logs. */
async function waitForJetStreamLeader(nodes: NatsNode[]): Promise<void> {
  await until(
    'a JetStream meta leader',
    () => nodes.some((n) => /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/.test(n.output())),
    20_000,
    () => nodes.map((n) => `--- ${n.name}\n${n.output()}`).join('\n'),
  )
}
