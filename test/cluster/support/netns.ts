import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEachTest } from '../../support/after-each-test.js'

/**
 * A network namespace joined to the root namespace by a veth pair, for partition tests: a process
 * run inside it reaches the root namespace only over that link, and the link can be cut and
 * restored. The cut is silent (blackhole routes on both sides: packets vanish, no reset, no ICMP),
 * so a TCP connection across it hangs rather than failing, as on a real partition; the `netem`
 * qdisc would do the same but is a kernel module many machines lack, routes are not.
 *
 * Each namespace gets a /30 of 10.213.0.0/16 claimed by a lock file, so test files running in
 * parallel never share names or addresses; everything is removed when the test (or file) ends,
 * whether it passed or not.
 */

export type Netns = {
  /** The namespace's name, for `ip netns exec`. */
  readonly name: string
  /** The root namespace's end of the link: a server listening here is reachable from inside. */
  readonly rootAddress: string
  /** The namespace's end of the link. */
  readonly innerAddress: string
  /** The command prefix that runs a program inside the namespace. */
  readonly exec: readonly string[]
  /** Drop every packet between the namespace and the root namespace, both ways, silently. */
  cut(): void
  /** Let packets pass again. */
  restore(): void
  /** Whether the link is cut now. */
  readonly isCut: boolean
  /** Kill what runs inside, delete the namespace, its link and routes, and free its addresses. */
  remove(): void
}

const LOCKS = join(tmpdir(), 'haltd-netns-locks')
const SLOTS = 16_384

function ip(args: string[], options: { allowFail?: boolean } = {}): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  const ok = r.status === 0
  if (!ok && !options.allowFail) throw new Error(`ip ${args.join(' ')} failed (${r.status ?? r.error?.message}): ${r.stderr}`)
  return { ok, out: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Names and addresses of slot `n`. */
function slotOf(n: number) {
  const base = n * 4
  const prefix = `10.213.${Math.floor(base / 256)}.`
  const last = base % 256
  return {
    name: `haltd-p${n}`,
    rootIf: `hdp${n}r`,
    innerIf: `hdp${n}n`,
    rootAddress: `${prefix}${last + 1}`,
    innerAddress: `${prefix}${last + 2}`,
  }
}

/** Deletes what slot `n` may have left behind (a test process killed before its cleanup). */
function clearSlot(n: number): void {
  const s = slotOf(n)
  ip(['netns', 'del', s.name], { allowFail: true })
  ip(['link', 'del', s.rootIf], { allowFail: true })
  ip(['route', 'del', 'blackhole', `${s.innerAddress}/32`], { allowFail: true })
}

/** A slot this process holds: its lock file names this process, created exclusively. */
function claimSlot(): number {
  mkdirSync(LOCKS, { recursive: true })
  const start = Math.floor(Math.random() * SLOTS)
  for (let i = 0; i < SLOTS; i++) {
    const n = (start + i) % SLOTS
    const lock = join(LOCKS, String(n))
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' })
      clearSlot(n)
      return n
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      // a lock whose process is gone is stale: taken over on a later pass, not raced for here
      const holder = Number(readFileSync(lock, 'utf8'))
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) unlinkSync(lock)
    }
  }
  throw new Error(`no free network namespace slot under ${LOCKS}`)
}

/**
 * Why this process cannot make network namespaces (not root, no `ip`, or not permitted here), or
 * undefined when it can: asked once by making and deleting one.
 */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add)'
  const probe = `haltd-probe-${process.pid}`
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (r.error) return `the ip command cannot run: ${r.error.message}`
  if (r.status !== 0) return `ip netns add is not permitted here: ${r.stderr.trim()}`
  spawnSync('ip', ['netns', 'del', probe])
  return undefined
}

/** A namespace with its link up, removed when the current test ends (or the file, outside a test). */
export function createNetns(): Netns {
  const n = claimSlot()
  const s = slotOf(n)
  let removed = false
  let cut = false
  const remove = () => {
    if (removed) return
    removed = true
    // what the test started inside goes with the namespace (only processes of this namespace are named)
    const pids = ip(['netns', 'pids', s.name], { allowFail: true })
    for (const pid of pids.out
      .split('\n')
      .map(Number)
      .filter((p) => Number.isInteger(p) && p > 0)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    clearSlot(n)
    try {
      unlinkSync(join(LOCKS, String(n)))
    } catch {}
  }
  afterEachTest(remove)
  try {
    ip(['netns', 'add', s.name])
    ip(['link', 'add', s.rootIf, 'type', 'veth', 'peer', 'name', s.innerIf])
    ip(['link', 'set', s.innerIf, 'netns', s.name])
    ip(['addr', 'add', `${s.rootAddress}/30`, 'dev', s.rootIf])
    ip(['link', 'set', s.rootIf, 'up'])
    ip(['-n', s.name, 'addr', 'add', `${s.innerAddress}/30`, 'dev', s.innerIf])
    ip(['-n', s.name, 'link', 'set', s.innerIf, 'up'])
    ip(['-n', s.name, 'link', 'set', 'lo', 'up'])
  } catch (e) {
    remove()
    throw e
  }
  return {
    name: s.name,
    rootAddress: s.rootAddress,
    innerAddress: s.innerAddress,
    exec: ['ip', 'netns', 'exec', s.name],
    cut() {
      if (cut) return
      // both ways: a route on one side only would let the other side's packets through (a half-open link)
      ip(['-n', s.name, 'route', 'add', 'blackhole', `${s.rootAddress}/32`])
      ip(['route', 'add', 'blackhole', `${s.innerAddress}/32`])
      cut = true
    },
    restore() {
      if (!cut) return
      ip(['-n', s.name, 'route', 'del', 'blackhole', `${s.rootAddress}/32`])
      ip(['route', 'del', 'blackhole', `${s.innerAddress}/32`])
      cut = false
    },
    get isCut() {
      return cut
    },
    remove,
  }
}
