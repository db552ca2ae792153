import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { dist, repoRoot } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'
import { type FuzzCase, generate } from './fuzz-cases.js'
import { openRaw, statusesOf } from './raw-http.js'

/**
 * The admin API against mutated requests (methods, targets, headers, bodies, partial requests,
 * pipelining, WebSocket upgrades and frames), with and without a valid token, served by a
 * process of its own: whatever a client sends, that process stays up, answers no 5xx, and
 * performs no action for a request without a valid token.
 *
 * `npm test` runs a few thousand cases; `npm run soak` (HALTD_SOAK=1) runs 24,000.
 */
const SOAK = process.env.HALTD_SOAK === '1'
const SEEDS = [11, 23, 47, 97]
const PER_SEED = SOAK ? 6_000 : 750
const CONCURRENCY = 16
const TOKEN = 'fuzz-token-0123456789abcdefABCDEF'

type Child = { child: ChildProcess; port: number; stderr: string[]; exited: () => boolean }
const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

async function startChild(): Promise<Child> {
  const child = spawn(process.execPath, [dist('test/admin/fuzz-server-child.js'), join(tempDir(), 'events.db'), TOKEN], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  children.push(child)
  const stderr: string[] = []
  child.stderr!.on('data', (c: Buffer) => stderr.push(c.toString('utf8')))
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      const m = /ready (\d+)/.exec(out)
      if (m) resolve(Number(m[1]))
    })
    child.once('exit', (code) => reject(new Error(`the server child exited (${code}) before it was ready: ${stderr.join('')}`)))
  })
  return { child, port, stderr, exited: () => child.exitCode !== null || child.signalCode !== null }
}

const ask = (child: ChildProcess) =>
  new Promise<{ actions: number; lastSeq: number; clients: number }>((resolve) => {
    child.once('message', (m) => resolve(m as { actions: number; lastSeq: number; clients: number }))
    child.send('count')
  })

/** Complete responses in `bytes`, stopping at a 101 (what follows is WebSocket frames). */
function responses(bytes: Buffer): { statuses: number[]; complete: boolean } {
  const statuses: number[] = []
  let at = 0
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', at)
    if (end === -1) return { statuses, complete: at > 0 && at === bytes.length }
    const head = bytes.subarray(at, end).toString('latin1')
    const status = statusesOf(head)[0]
    if (status === undefined) return { statuses, complete: false }
    statuses.push(status)
    if (status === 101) return { statuses, complete: true }
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
    at = end + 4 + (status >= 200 ? length : 0)
    if (at > bytes.length) return { statuses, complete: false }
    if (at === bytes.length) return { statuses, complete: status >= 200 }
  }
}

/**
 * Sends one case's bytes and reads until the server closes the connection, or a response is
 * complete and nothing more comes for a moment, or nothing comes at all (a partial request the
 * server waits on). A response that arrives later is simply not counted.
 */
async function run(port: number, c: FuzzCase): Promise<number[]> {
  const socket = await openRaw(port)
  const chunks: Buffer[] = []
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(responses(Buffer.concat(chunks)).statuses)
    }
    const wait = (ms: number) => {
      clearTimeout(timer)
      timer = setTimeout(finish, ms)
    }
    const hardStop = setTimeout(finish, 3_000)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      wait(responses(Buffer.concat(chunks)).complete ? 40 : 300)
    })
    socket.on('error', finish)
    socket.on('close', () => {
      clearTimeout(hardStop)
      finish()
    })
    socket.write(c.bytes)
    wait(300)
  })
}

const PUBLIC = new Set(['/', '/ui/page.css', '/ui/page.js'])

async function runAll(port: number, cases: FuzzCase[], child: Child) {
  const statuses = new Map<number, number>()
  const fivexx: string[] = []
  const unauthorizedPassed: string[] = []
  let next = 0
  const worker = async () => {
    while (next < cases.length && !child.exited()) {
      const c = cases[next++]!
      // A refused connection means the server is gone: the exit check below says why.
      const got = await run(port, c).catch(() => [] as number[])
      for (const s of got) statuses.set(s, (statuses.get(s) ?? 0) + 1)
      const name = `seed ${c.seed} #${c.index} (${c.kind}, ${c.auth}${c.mutated ? ', mutated' : ''})`
      if (got.some((s) => s >= 500)) fivexx.push(name)
      // the dashboard's page and its files need no credential: a GET of one is answered 200 to anyone
      const line = /^GET (\S+) /.exec(c.bytes.subarray(0, 200).toString('latin1'))
      const publicPage = c.kind === 'http' && line !== null && PUBLIC.has(line[1]!.split(/[?#]/)[0]!)
      const passed = got.some((s) => s === 101 || s === 202 || s === 409 || (s === 200 && !publicPage))
      if (c.auth !== 'valid' && passed) unauthorizedPassed.push(name)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { statuses, fivexx, unauthorizedPassed }
}

const health = (port: number) => fetch(`http://127.0.0.1:${port}/health`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.status)

describe('admin API fuzz', () => {
  it(
    `stays up, answers no 5xx and acts only on a valid token over ${SEEDS.length * PER_SEED} mutated requests and frames`,
    async () => {
      // given the admin API in a process of its own and the cases for fixed seeds
      const server = await startChild()
      const cases = SEEDS.flatMap((seed) => generate({ seed, count: PER_SEED, token: TOKEN, port: server.port }))
      // Without a valid token by construction; a mutated one that still holds the token might have become valid.
      const unauthorized = cases.filter((c) => c.auth !== 'valid' && !(c.mutated && c.bytes.includes(TOKEN)))
      const rest = cases.filter((c) => !unauthorized.includes(c))

      // when every case without a valid token is sent
      const first = await runAll(server.port, unauthorized, server)
      // then the process is up, nothing was answered 5xx, and no action ran
      expect(server.exited(), server.stderr.join('')).toBe(false)
      const afterUnauthorized = await ask(server.child)
      expect(first.fivexx).toEqual([])
      expect(first.unauthorizedPassed).toEqual([])
      expect(afterUnauthorized.actions).toBe(0)
      expect(afterUnauthorized.lastSeq).toBe(0)

      // when the cases with a valid token (and the rest) are sent
      const second = await runAll(server.port, rest, server)
      // then the process is still up and answering, with no 5xx, and the actions did run
      expect(server.exited(), server.stderr.join('')).toBe(false)
      expect(await health(server.port)).toBe(200)
      const end = await ask(server.child)
      expect(second.fivexx).toEqual([])
      expect(second.unauthorizedPassed).toEqual([])
      const accepted = (second.statuses.get(202) ?? 0) + (second.statuses.get(409) ?? 0)
      expect(accepted).toBeGreaterThan(0)
      expect(end.actions).toBeGreaterThanOrEqual(accepted)
      expect(server.stderr.join('')).not.toContain('"level":50')

      const all = new Map<number, number>()
      for (const m of [first.statuses, second.statuses]) for (const [s, n] of m) all.set(s, (all.get(s) ?? 0) + n)
      const summary = {
        cases: cases.length,
        withoutValidToken: unauthorized.length,
        withValidTokenOrMaybe: rest.length,
        actionsWithoutValidToken: afterUnauthorized.actions,
        actionsTotal: end.actions,
        responses5xx: first.fivexx.length + second.fivexx.length,
        statuses: Object.fromEntries([...all].sort(([a], [b]) => a - b)),
      }
      console.log(`admin fuzz: ${JSON.stringify(summary)}`)
    },
    SOAK ? 1_800_000 : 120_000,
  )
})
