import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { z } from 'zod'
import { ENGINE_STOP_MS, type EngineAct, type EngineControl } from '../core/shutdown/engine-control.js'

/**
 * The config's `engine` section: how haltd freezes, stops and kills the trading engine's process
 * and how it tells the engine is gone. Each action is a signal to the engine's pid (from `pid` or
 * `pidFile`), an HTTP call (Freqtrade's REST `POST /api/v1/stop`, say) or a command (argv, no shell).
 */

const Signal = z.enum(['SIGSTOP', 'SIGCONT', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGKILL'])

const HttpCall = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  method: z.enum(['GET', 'POST', 'PUT', 'DELETE']).default('POST'),
  /** An auth header for the engine's API, for example. */
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
})

const Argv = z.array(z.string().min(1)).min(1)

export const EngineActionConfig = z.union([z.strictObject({ signal: Signal }), z.strictObject({ http: HttpCall }), z.strictObject({ command: Argv })], {
  error: 'one action: {"signal": "SIGTERM"}, {"http": {"url": "http://…"}} or {"command": ["program", "arg", …]}',
})
export type EngineActionConfig = z.output<typeof EngineActionConfig>

/** How haltd tells the engine is gone: its pid no longer alive, an HTTP answer, or a command that exits 0. */
export const EngineGoneConfig = z.union(
  [
    z.literal('pid'),
    z.strictObject({
      http: HttpCall.extend({
        method: z.enum(['GET', 'POST']).default('GET'),
        /** Gone when the answer has one of these statuses (an unreachable engine counts as gone only with `unreachableIsGone`). */
        goneStatus: z.array(z.number().int().min(100).max(599)).default([]),
        /** Gone when the answer's body contains this (Freqtrade's `/api/v1/show_config` says `"state": "stopped"`). */
        goneBodyIncludes: z.string().min(1).optional(),
        /** A refused connection means the engine is gone (its API lives in its process). */
        unreachableIsGone: z.boolean().default(true),
      }),
    }),
    z.strictObject({ command: Argv }),
  ],
  { error: '"pid", {"http": {"url": "http://…"}} or {"command": ["program", "arg", …]}' },
)

export const EngineConfig = z
  .strictObject({
    /** A name for messages and events. */
    name: z.string().min(1).max(64).default('engine'),
    pid: z.number().int().positive().optional(),
    /** Read at each action, so an engine restarted under another pid is still the one acted on. */
    pidFile: z.string().min(1).optional(),
    /** The emergency's first phase: SIGSTOP by default where there is a pid, else the stop action. */
    freeze: EngineActionConfig.optional(),
    /** SIGTERM by default where there is a pid. */
    stop: EngineActionConfig.optional(),
    /** SIGKILL by default where there is a pid. */
    kill: EngineActionConfig.optional(),
    /** `pid` by default where there is a pid. */
    gone: EngineGoneConfig.optional(),
    /** The emergency freezes the engine before its cancels (the runbook's `kill -STOP`), or asks it to stop. */
    firstPhase: z.enum(['freeze', 'stop']).default('freeze'),
    /** After the stop, how long the engine has to be gone before the kill. */
    graceMs: z.number().int().nonnegative().default(2_000),
    /** How long the graceful shutdown waits for its stop of the engine (step 4) before it cancels the orders. */
    stopMs: z.number().int().positive().default(ENGINE_STOP_MS),
  })
  .superRefine((e, ctx) => {
    const hasPid = e.pid !== undefined || e.pidFile !== undefined
    if (e.pid !== undefined && e.pidFile !== undefined) ctx.addIssue({ code: 'custom', path: ['pidFile'], message: 'give pid or pidFile, not both' })
    for (const key of ['freeze', 'stop', 'kill'] as const) {
      const a = e[key]
      if (a && 'signal' in a && !hasPid) ctx.addIssue({ code: 'custom', path: [key], message: 'a signal needs engine.pid or engine.pidFile' })
    }
    if (e.gone === 'pid' && !hasPid) ctx.addIssue({ code: 'custom', path: ['gone'], message: "'pid' needs engine.pid or engine.pidFile" })
    if (!hasPid && !e.stop) ctx.addIssue({ code: 'custom', path: ['stop'], message: 'without a pid, say how to stop the engine (http or command)' })
    if (!hasPid && !e.gone) ctx.addIssue({ code: 'custom', path: ['gone'], message: 'without a pid, say how to tell the engine is gone (http or command)' })
  })
export type EngineConfig = z.output<typeof EngineConfig>

/** What the shutdown records of the engine (its options): enough for replay to decide alike. */
export const engineShutdownOptions = (e: EngineConfig) => ({ firstPhase: e.firstPhase, graceMs: e.graceMs, stopMs: e.stopMs })

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** The engine's process as the config describes it, and what haltd sees of it at start. */
export type EngineProcess = EngineControl & {
  /**
   * Where a shutdown could not freeze, stop or kill the engine by its pid as things stand (no pid
   * to read, no engine running there, a process haltd may not signal), why; undefined where it can,
   * or where the engine is reached by HTTP or a command, which haltd does not try before a shutdown.
   */
  atStart(): string | undefined
}

/** The engine's process as the config describes it. */
export function createEngineControl(config: EngineConfig): EngineProcess {
  const hasPid = config.pid !== undefined || config.pidFile !== undefined
  const actions: Record<EngineAct, EngineActionConfig | undefined> = {
    freeze: config.freeze ?? (hasPid ? { signal: 'SIGSTOP' } : config.stop),
    thaw: hasPid ? { signal: 'SIGCONT' } : undefined,
    stop: config.stop ?? (hasPid ? { signal: 'SIGTERM' } : undefined),
    kill: config.kill ?? (hasPid ? { signal: 'SIGKILL' } : undefined),
  }
  const gone = config.gone ?? 'pid'

  const pidLabel = () => (config.pid !== undefined ? `pid ${config.pid}` : `the pid in ${config.pidFile}`)
  // A configured pid names the process that held it when haltd started: one started since (the
  // engine gone, its pid reused) or any process there when none was is not the engine.
  const startedWith = config.pid === undefined ? undefined : { ticks: startTicks(config.pid), alive: alive(config.pid) }

  /**
   * The process haltd last took from the pid file for the engine, and when it started. Many an
   * engine removes its pid file as it exits, some before they are done: the file gone, this is
   * still the engine while it runs, and its end is the engine's.
   */
  let lastFromFile: { pid: number; ticks: number | undefined } | undefined

  /** The engine, its pid file removed: the process last read from it while that runs, gone once it does not. */
  const sinceFileRemoved = (last: { pid: number; ticks: number | undefined }): { pid: number } | { gone: string } => {
    const removed = `${config.pidFile} was removed`
    if (!alive(last.pid)) return { gone: `${removed}, and pid ${last.pid}, the engine it held, does not exist (or is a zombie)` }
    const ticks = startTicks(last.pid)
    if (last.ticks === undefined || ticks === undefined)
      throw new Error(`${removed}; pid ${last.pid}, which it held, is alive, and without /proc haltd cannot tell whether it is still the engine`)
    if (ticks !== last.ticks)
      return { gone: `${removed}, and pid ${last.pid}, which it held, is now a process started after the engine (the engine is gone, its pid reused)` }
    return { pid: last.pid }
  }

  /** The engine's pid now, or why no process holding it is the engine. Throws when it cannot be told. */
  const engineNow = (): { pid: number } | { gone: string } => {
    let pid: number
    try {
      pid = config.pid ?? pidInFile(config.pidFile!)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
      if (lastFromFile !== undefined) return sinceFileRemoved(lastFromFile)
      throw new Error(`the pid file ${config.pidFile} does not exist, and haltd has read no engine's pid from it in this run`)
    }
    if (pid === process.pid) throw new Error(`${pidLabel()} is ${pid}, haltd's own process: haltd does not signal itself`)
    if (!alive(pid)) return { gone: `pid ${pid} does not exist (or is a zombie)` }
    const ticks = startTicks(pid)
    if (startedWith !== undefined && ticks !== undefined) {
      if (!startedWith.alive) return { gone: `pid ${pid} was not alive when haltd started: the process holding it now is not the engine` }
      if (startedWith.ticks !== undefined && ticks !== startedWith.ticks)
        return { gone: `pid ${pid} is held by a process started after the engine's (the engine is gone, its pid reused)` }
    }
    if (config.pidFile !== undefined) {
      const started = startedAtMs(ticks)
      const written = mtimeMs(config.pidFile)
      // the engine that wrote it is gone, or the clock was stepped since it was written: either
      // way this process is not known to be the engine, so it is neither signalled nor called gone
      if (started !== undefined && written !== undefined && started > written + PID_FILE_SLACK_MS)
        throw new Error(
          `pid ${pid} is held by a process that started after ${config.pidFile} was written (a stale pid file, or a clock stepped since): haltd does not signal it, and cannot tell whether the engine is gone`,
        )
      lastFromFile = { pid, ticks }
    }
    return { pid }
  }

  const describe = (a: EngineActionConfig): string =>
    'signal' in a ? `${a.signal} to ${pidLabel()}` : 'http' in a ? `${a.http.method} ${a.http.url}` : `command ${a.command.join(' ')}`

  /** A stop that asks the engine itself (not a signal) where haltd may have frozen it: a kill needs nothing of it. */
  const thawsFirst = (action: EngineAct, a: EngineActionConfig) => action === 'stop' && hasPid && !('signal' in a)
  const thawIfFrozen = () => {
    try {
      const target = engineNow()
      if ('pid' in target) signalIfAlive(target.pid, 'SIGCONT')
    } catch {
      // no pid to read: nothing of ours to continue
    }
  }

  return {
    instant(action) {
      const a = actions[action]
      return a !== undefined && 'signal' in a && a.signal !== 'SIGSTOP'
    },
    atStart() {
      if (!hasPid) return undefined
      let target: { pid: number } | { gone: string }
      try {
        target = engineNow()
      } catch (e) {
        return `${messageOf(e)}: a shutdown cannot freeze, stop or kill the engine until haltd can tell which process it is`
      }
      if ('gone' in target) return `no engine runs at ${pidLabel()} (${target.gone}): a shutdown has nothing to freeze, stop or kill until one does`
      return mayNotSignal(target.pid)
    },
    how(action) {
      if (action === 'check') {
        if (gone === 'pid') return `whether ${pidLabel()} is alive`
        return 'http' in gone ? `${gone.http.method} ${gone.http.url}` : `command ${gone.command.join(' ')}`
      }
      const a = actions[action]
      if (!a) return undefined
      return thawsFirst(action, a) ? `SIGCONT to ${pidLabel()} (a frozen engine cannot take it), then ${describe(a)}` : describe(a)
    },
    async act(action, timeoutMs) {
      const a = actions[action]
      if (!a) throw new Error(`no ${action} is configured for ${config.name}`)
      if ('signal' in a) {
        const target = engineNow()
        if ('gone' in target) return 'gone'
        const { pid } = target
        signal(pid, a.signal)
        // The signal is queued, not yet taken: a freeze is done once the process is seen stopped.
        if (a.signal === 'SIGSTOP') await stopped(pid, timeoutMs)
        // A stopped process takes no signal but KILL until it runs again: a frozen engine is
        // continued behind its TERM, so the TERM is what it sees first.
        if (a.signal !== 'SIGSTOP' && a.signal !== 'SIGKILL' && a.signal !== 'SIGCONT') signalIfAlive(pid, 'SIGCONT')
        return 'done'
      }
      // a frozen engine cannot take an HTTP call or see what a command asks of it: it runs again first
      if (thawsFirst(action, a)) thawIfFrozen()
      if ('http' in a) {
        const res = await call(a.http, timeoutMs)
        if (!res.ok) throw new Error(`${a.http.method} ${a.http.url} answered HTTP ${res.status}: ${res.body.slice(0, 200)}`)
        return 'done'
      }
      await run(a.command, timeoutMs)
      return 'done'
    },
    async check(timeoutMs) {
      if (gone === 'pid') {
        const target = engineNow()
        return 'gone' in target ? { gone: true, evidence: target.gone } : { gone: false, evidence: `pid ${target.pid} is alive` }
      }
      if ('http' in gone) {
        const h = gone.http
        let res: { status: number; ok: boolean; body: string }
        try {
          res = await call(h, timeoutMs)
        } catch (e) {
          if (h.unreachableIsGone && isUnreachable(e)) return { gone: true, evidence: `${h.url} refuses connections (${messageOf(e)})` }
          throw e
        }
        const byStatus = h.goneStatus.includes(res.status)
        const byBody = h.goneBodyIncludes !== undefined && res.body.includes(h.goneBodyIncludes)
        return { gone: byStatus || byBody, evidence: `${h.method} ${h.url} answered HTTP ${res.status}${byBody ? ` with '${h.goneBodyIncludes}'` : ''}` }
      }
      try {
        await run(gone.command, timeoutMs)
        return { gone: true, evidence: `${gone.command.join(' ')} exited 0` }
      } catch (e) {
        // a look cut off by its time said nothing either way: only one that exited said "not gone"
        if (e instanceof CommandTimedOut) throw e
        return { gone: false, evidence: messageOf(e) }
      }
    },
  }
}

function pidInFile(path: string): number {
  const text = readFileSync(path, 'utf8').trim()
  const pid = Number(text)
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(pid) || pid <= 0)
    throw new Error(`pid file ${path} does not hold a pid (${JSON.stringify(text.slice(0, 40))})`)
  return pid
}

/**
 * How much later than its pid file a process may have started and still be the one that wrote it
 * (the start time is read to the clock tick, against the wall clock, and a wrapper may write the
 * file for the process it then execs).
 */
const PID_FILE_SLACK_MS = 1_000

/** The kernel's clock ticks per second in /proc (USER_HZ, 100 on Linux). */
const USER_HZ = 100

/** When the process holding `pid` started, in clock ticks after boot (field 22 of /proc/<pid>/stat); undefined without /proc. */
function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
    return Number.isSafeInteger(ticks) ? ticks : undefined
  } catch {
    return undefined
  }
}

/** A start in clock ticks after boot as wall-clock milliseconds, from the uptime now. */
function startedAtMs(ticks: number | undefined): number | undefined {
  if (ticks === undefined) return undefined
  try {
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0])
    return Number.isFinite(uptime) ? Date.now() - (uptime - ticks / USER_HZ) * 1000 : undefined
  } catch {
    return undefined
  }
}

function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs
  } catch {
    return undefined
  }
}

/** Alive: signal 0 reaches it (EPERM: it exists, owned by another user) and it is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
  // a zombie has exited and waits only for its parent to read its status; without /proc, signal 0 is all there is
  const state = procState(pid)
  return state !== 'Z' && state !== 'gone'
}

/** Wait until the kernel shows the process stopped (state T), or it is gone; throws past `timeoutMs`. */
async function stopped(pid: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const state = procState(pid)
    if (state === undefined || state === 'T' || state === 't' || state === 'Z' || state === 'gone') return
    if (Date.now() >= until) throw new Error(`SIGSTOP sent to pid ${pid}, but it was still running (state ${state}) after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}

/** The state letter in /proc/<pid>/stat; 'gone' without the entry, undefined where there is no /proc. */
function procState(pid: number): string | undefined {
  try {
    // "pid (comm) S …": comm may hold spaces and parentheses, the state follows the last ')'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const at = stat.lastIndexOf(')')
    return stat.slice(at + 2, at + 3)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return readdirOk('/proc') ? 'gone' : undefined
    return undefined
  }
}

function readdirOk(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** Why haltd may not signal `pid` (another user's process), or undefined. */
function mayNotSignal(pid: number): string | undefined {
  try {
    process.kill(pid, 0)
    return undefined
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? notPermitted(pid) : undefined
  }
}

const notPermitted = (pid: number) => `haltd may not signal pid ${pid} (EPERM: it runs as another user): run haltd as the engine's user, or give it CAP_KILL`

/** Send `sig` to `pid`; a refusal for want of permission says so, not only "kill EPERM". */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPERM') throw new Error(notPermitted(pid), { cause: e })
    throw e
  }
}

function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // gone between the two signals: nothing left to continue
  }
}

/** One HTTP exchange on a connection of its own, closed after it (no kept-alive socket outlives the shutdown). */
function call(h: z.output<typeof HttpCall>, timeoutMs: number): Promise<{ status: number; ok: boolean; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(h.url)
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      { method: h.method, headers: h.headers, agent: false, timeout: Math.max(1, timeoutMs) },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const status = res.statusCode ?? 0
          resolve({ status, ok: status >= 200 && status < 300, body: Buffer.concat(chunks).toString('utf8') })
        })
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${h.method} ${h.url} had no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(h.body)
  })
}

/** Nothing listens there. A reset connection was accepted first: something is there, and what cannot be told. */
function isUnreachable(e: unknown): boolean {
  return (e as { code?: string }).code === 'ECONNREFUSED'
}

/** A command killed at its time limit: it never said how it went. */
class CommandTimedOut extends Error {}

/**
 * The process groups of commands still running. haltd can exit before a command's time limit (an
 * emergency that escalated a graceful shutdown ends without waiting for the graceful's stop): the
 * groups left are killed as haltd exits, so no command outlives the time haltd gave it.
 */
const runningGroups = new Set<number>()

function killGroupsLeft(): void {
  for (const group of runningGroups) {
    try {
      process.kill(-group, 'SIGKILL')
    } catch {
      // the group is gone already
    }
  }
}

/** Kill the group as haltd exits unless it ends first (`ended`); the listener is held only while some group runs. */
function killAtExit(pgid: number): void {
  if (runningGroups.size === 0) process.on('exit', killGroupsLeft)
  runningGroups.add(pgid)
}

function ended(pgid: number): void {
  if (!runningGroups.delete(pgid)) return
  if (runningGroups.size === 0) process.off('exit', killGroupsLeft)
}

/**
 * Run a command in a process group of its own, and at its time limit kill the whole group: a
 * shell's children (`sh -c 'sleep 60'`) would otherwise outlive it, and while one held the pipe
 * open the answer waited for it, past any deadline. Its end is the command's exit, not its pipes'
 * (what a command that ends in time leaves running, it meant to).
 */
function run(argv: readonly string[], timeoutMs: number): Promise<void> {
  const limit = Math.max(1, timeoutMs)
  return new Promise((resolve, reject) => {
    let child: ChildProcess
    try {
      child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
    } catch (e) {
      reject(new Error(`${argv.join(' ')} failed: ${(e as Error).message}`))
      return
    }
    const group = child.pid
    if (group !== undefined) killAtExit(group)
    let stderr = ''
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 200) stderr += chunk
    })
    child.stderr?.on('error', () => undefined)
    let timedOut = false
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // the group is gone already
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup()
    }, limit)
    const done = (error: Error | undefined) => {
      if (group !== undefined) ended(group)
      clearTimeout(timer)
      child.stderr?.destroy()
      if (error) reject(error)
      else resolve()
    }
    child.once('error', (e) => done(new Error(`${argv.join(' ')} failed: ${e.message}`)))
    child.once('exit', (code, signal) => {
      if (timedOut) return done(new CommandTimedOut(`${argv.join(' ')} had no answer within ${limit} ms`))
      if (code === 0) return done(undefined)
      const said = stderr.trim().slice(0, 200)
      done(new Error(`${argv.join(' ')} ${code !== null ? `exited ${code}` : `was killed by ${signal}`}${said ? `: ${said}` : ''}`))
    })
  })
}
