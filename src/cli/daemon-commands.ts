import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { logFolder } from './log-folder.js'
import { dirname, relative, resolve } from 'node:path'
import { adminRequest, type AdminReply } from '../admin/client.js'
import { adminInfoPath } from '../admin/info-file.js'
import { loadConfig, type HaltdConfig, type HaltdConfigInput } from '../daemon/config.js'
import type { DaemonStatus, Haltd } from '../daemon/index.js'
import { DEMO_VENUES, demoConfig, demoVenuesPath, restingOrderPlan } from '../daemon/demo.js'
import { openEventLog } from '../core/log/event-log.js'
import { parseFlags, UsageError } from './args.js'
import { DEMO_DB, resolveTarget, TARGET_FLAGS, TARGET_HELP } from './admin-target.js'
import { runStandby } from './cluster-commands.js'
import type { Command } from './command.js'
import { operatorName } from './operator.js'
import { exitOnCrash } from './crash.js'
import { oneLine } from './output.js'
import { money, quantityAt } from '../projections/money.js'
import { venueEvidenceLine, type VenueReconciliation } from '../projections/index.js'

/** A stray word is a mistake (a pasted `[--emergency]`, a missing `--`): refuse it rather than ignore it. */
function noArguments(positional: string[]): void {
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' (options start with --)`)
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`)
const err = (s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`)

function refusal(reply: AdminReply): string {
  const body = reply.body as { error?: { code?: string; message?: string } } | undefined
  return body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${reply.status}`
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
  // An exited process whose parent has not reaped it yet still answers signal 0: a zombie is gone.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/**
 * How the daemon's last run ended, once it has gone: the exit code it recorded, or the instance it
 * handed the engine over to (a run whose handover rolled back records its real exit code after).
 */
function recordedEnd(db: string | undefined): { exitCode: number } | { handedOverTo: string } | undefined {
  if (!db || !existsSync(db)) return undefined
  const log = openEventLog({ path: db, readonly: true })
  try {
    let end: { exitCode: number } | { handedOverTo: string } | undefined
    for (const e of log.read({ types: ['run.ended', 'run.handed-over'], from: Math.max(1, log.lastSeq - 50_000) })) {
      if (e.type === 'run.ended') end = { exitCode: e.data.exitCode }
      else if (e.type === 'run.handed-over') end = { handedOverTo: e.data.to }
    }
    return end
  } finally {
    log.close()
  }
}

export const stopCommand: Command = {
  name: 'stop',
  summary: 'ask a running daemon to shut down (graceful, or --emergency) and wait for it',
  usage: `haltd stop [--emergency] [--reason TEXT] [--no-wait] [--timeout SECONDS]

Sends POST /shutdown to the daemon's admin API, then waits until the process has gone and prints
the exit code it recorded (or, for a run that handed the engine over, to whom). A stop sent during a graceful shutdown with --emergency escalates it.
A stop sent during a planned handover waits for its outcome (--emergency aborts it first): rolled
back, the shutdown runs; handed over, it prints HANDED_OVER and the new leader, and the daemon
exits 0 without a shutdown.

Exit code: the daemon's own (0 clean, 2 residual exposure, unconfirmed cancels or an engine not seen gone, 3 emergency)
once it has gone; 0 with --no-wait once the request was accepted; 1 when it was refused or the
daemon could not be reached, and when the daemon could not record the request (it prints
STOPPING_UNRECORDED: the stop goes ahead unrecorded, and the daemon exits 1); 4 when it was still
running at --timeout.

${TARGET_HELP}`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { ...TARGET_FLAGS, emergency: 'boolean', reason: 'string', 'no-wait': 'boolean', timeout: 'number' })
    noArguments(positional)
    const target = resolveTarget(flags)
    const mode = flags.emergency ? 'emergency' : 'graceful'
    const reason = flags.reason ?? `haltd stop${flags.emergency ? ' --emergency' : ''} by ${operatorName() ?? 'an operator'}`
    const reply = await adminRequest(target, 'POST', '/shutdown', { mode, reason })
    if (reply.status !== 202) {
      err(`haltd stop: refused: ${refusal(reply)}`)
      return 1
    }
    const answer = (reply.body as { result?: { outcome?: string; leader?: string; message?: string } }).result
    // a stop asked during a planned handover that handed the engine over: nothing ran here, the new leader trades
    if (answer?.outcome === 'HANDED_OVER') out(`HANDED_OVER: the engine is led by '${answer.leader}' now; ${answer.message ?? ''}`.trimEnd())
    else if (answer?.outcome === 'STOPPING_UNRECORDED') out(`STOPPING_UNRECORDED: ${answer.message ?? ''}`.trimEnd())
    else out(`${mode} shutdown requested (${target.url}): ${reason}`)
    if (flags['no-wait']) return 0
    const pid = target.info?.pid
    const deadline = Date.now() + (flags.timeout ?? 600) * 1000
    // Gone means: the pid is gone (same host), or the admin API no longer answers.
    for (;;) {
      if (
        pid !== undefined
          ? !alive(pid)
          : await adminRequest(target, 'GET', '/health', undefined, 2_000).then(
              () => false,
              () => true,
            )
      )
        break
      if (Date.now() > deadline) {
        err(`haltd stop: still running after ${flags.timeout ?? 600} s`)
        return 4
      }
      await new Promise((r) => setTimeout(r, 200))
    }
    const end = recordedEnd(target.db)
    // a stop it could not record ends the daemon with exit 1, also unrecorded
    if (end === undefined && answer?.outcome === 'STOPPING_UNRECORDED') {
      out('stopped, unrecorded (exit 1)')
      return 1
    }
    if (end === undefined) out('stopped')
    else if ('handedOverTo' in end) out(`stopped: handed the engine over to '${end.handedOverTo}' (no shutdown ran)`)
    else out(`stopped with exit code ${end.exitCode}`)
    // a run that handed over exits 0: its process ends without a shutdown
    return end !== undefined && 'exitCode' in end ? end.exitCode : 0
  },
}

type StatusBody = {
  state?: string
  mode?: string
  pid?: number
  seq?: number
  killSwitch?: { latched: boolean; reason?: string; by?: string }
  openOrders?: number
  positions?: { venue: string; symbol: string; qty: number; amountStep?: number; unpriced?: true }[]
  reconciliation?: { verdict: string; venues: VenueReconciliation[] }
  venues?: { venue: string; connected: boolean }[]
  strategies?: { id: string; enabled: boolean }[]
  shutdown?: { shutdownId: string; mode: string; status?: string; step?: number; stepName?: string } | null
  pnl?: { equity?: number; drawdown?: number }
  drain?: string
  paused?: boolean
  deploymentsLocked?: boolean
}

/** What a standby's admin API answers on `/status`. */
type StandbyStatusBody = {
  role: 'standby' | 'leader' | 'stopped'
  instance?: string
  engine?: string
  pid?: number
  followedSeq?: number
  lag?: { events?: number }
  leader?: { instance: string; epoch: number } | null
  follower?: { state?: string; reason?: string }
  refused?: string
  engineStopped?: { message?: string }
  venues?: { venue: string; connected: boolean }[]
}

function formatStandbyStatus(s: StandbyStatusBody): string {
  const lines = [
    `role ${s.role}  instance ${s.instance ?? '?'}  engine ${s.engine ?? '?'}  pid ${s.pid ?? '?'}`,
    `leader: ${s.leader ? `${s.leader.instance} (epoch ${s.leader.epoch})` : 'none holds the lease'}`,
    `following: ${s.follower?.state ?? '?'}${s.follower?.reason ? ` (${s.follower.reason})` : ''}  seq ${s.followedSeq ?? '?'}  lag ${s.lag?.events ?? '?'} events`,
  ]
  if (s.engineStopped?.message) lines.push(`not taking over: ${s.engineStopped.message}`)
  if (s.refused) lines.push(`not taking over: ${s.refused}`)
  if (s.venues?.length) lines.push(`venues (read-only): ${s.venues.map((v) => `${v.venue} ${v.connected ? 'up' : 'DOWN'}`).join(', ')}`)
  return lines.map(oneLine).join('\n')
}

/** What the P&L leaves out: the open positions haltd has no price for. */
function unpricedCount(open: readonly { unpriced?: true }[]): string {
  const n = open.filter((p) => p.unpriced).length
  return n === 0 ? '' : `; not counting ${n} UNPRICED position(s)`
}

function formatStatus(s: StatusBody): string {
  if ((s as { role?: unknown }).role === 'standby') return formatStandbyStatus(s as StandbyStatusBody)
  const lines = [
    `state ${s.state ?? '?'}  mode ${s.mode ?? '?'}  pid ${s.pid ?? '?'}  seq ${s.seq ?? '?'}`,
    `kill switch: ${s.killSwitch?.latched ? `LATCHED (${s.killSwitch.reason ?? ''}${s.killSwitch.by ? `, by ${s.killSwitch.by}` : ''})` : 'not latched'}`,
    `open orders: ${s.openOrders ?? 0}`,
    `drain ${s.drain ?? '?'}  paused ${s.paused === undefined ? '?' : s.paused ? 'YES' : 'no'}  deployments ${s.deploymentsLocked === undefined ? '?' : s.deploymentsLocked ? 'LOCKED' : 'unlocked'}`,
  ]
  const open = (s.positions ?? []).filter((p) => p.qty !== 0)
  lines.push(
    `positions: ${open.length === 0 ? 'flat' : open.map((p) => `${p.venue} ${p.symbol} ${quantityAt(p.qty, p.amountStep)}${p.unpriced ? ' (UNPRICED)' : ''}`).join(', ')}`,
  )
  if (s.reconciliation) {
    lines.push(`reconciliation: ${s.reconciliation.verdict} (as the log knows it; GET /reconciliation asks the venues now)`)
    for (const v of s.reconciliation.venues) lines.push(`  ${venueEvidenceLine(v)}`)
  }
  if (s.venues?.length) lines.push(`venues: ${s.venues.map((v) => `${v.venue} ${v.connected ? 'up' : 'DOWN'}`).join(', ')}`)
  if (s.strategies?.length) lines.push(`strategies: ${s.strategies.map((x) => `${x.id} ${x.enabled ? 'on' : 'off'}`).join(', ')}`)
  if (s.pnl)
    lines.push(
      `P&L ${s.pnl.equity !== undefined ? money(s.pnl.equity) : '?'} (fees included${unpricedCount(open)})  drawdown ${s.pnl.drawdown !== undefined ? money(s.pnl.drawdown) : '?'}`,
    )
  if (s.shutdown)
    lines.push(
      `${s.shutdown.status ?? 'shutdown'} ${s.shutdown.shutdownId} (${s.shutdown.mode}) at step ${s.shutdown.step ?? '?'} ${s.shutdown.stepName ?? ''}`.trimEnd(),
    )
  return lines.map(oneLine).join('\n')
}

export const statusCommand: Command = {
  name: 'status',
  summary: "a running daemon's state, kill switch, orders, positions and venues",
  usage: `haltd status [--json]

Exit code: 0 when the daemon answered, 1 when it could not be reached.

${TARGET_HELP}`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { ...TARGET_FLAGS, json: 'boolean' })
    noArguments(positional)
    const target = resolveTarget(flags)
    const reply = await adminRequest(target, 'GET', '/status')
    if (reply.status !== 200) {
      err(`haltd status: ${refusal(reply)}`)
      return 1
    }
    out(flags.json ? JSON.stringify(reply.body, null, 2) : formatStatus(reply.body as StatusBody))
    return 0
  },
}

export const killswitchCommand: Command = {
  name: 'killswitch',
  summary: 'reset (or activate) the latched kill switch of a running daemon, with a reason',
  usage: `haltd killswitch reset --reason TEXT
haltd killswitch activate --reason TEXT [--action HALTED|REDUCING|EMERGENCY]

A latched kill switch survives restarts; only a reset with a reason unlatches it (and only an admin
credential may reset). The log records the reason, the origin, and as \`by\` the name and role of
the credential used.

${TARGET_HELP}`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { ...TARGET_FLAGS, reason: 'string', action: 'string' })
    const [sub] = positional
    if (sub !== 'reset' && sub !== 'activate') throw new UsageError("expected 'reset' or 'activate' (haltd killswitch reset --reason TEXT)")
    if (!flags.reason?.trim()) throw new UsageError('--reason TEXT is required: the log records why')
    const target = resolveTarget(flags)
    const body = { reason: flags.reason, ...(sub === 'activate' && flags.action ? { action: flags.action } : {}) }
    const reply = await adminRequest(target, 'POST', `/killswitch/${sub}`, body)
    if (reply.status !== 202) {
      err(`haltd killswitch ${sub}: refused: ${refusal(reply)}`)
      return 1
    }
    out(`kill switch ${sub === 'reset' ? 'reset' : 'activated'}: ${flags.reason}`)
    return 0
  },
}

// ── running haltd: `run` and `demo` ────────────────────────────────────────────────────────

/**
 * What the daemon commands print besides the log: human text on a terminal, and where the log is
 * JSON lines (piped, `tee`, a journal) one JSON object a line like the log's own, so every stdout
 * line parses. Decided once, from the same setting as the logger's format.
 */
type Say = (msg: string, fields: Record<string, unknown>, text: () => string) => void

function stdoutIsJson(config: Pick<HaltdConfig, 'log'>, isTTY = process.stdout.isTTY === true): boolean {
  return config.log.format === 'json' || (config.log.format === 'auto' && !isTTY)
}

function printer(json: boolean): Say {
  if (!json) return (_msg, _fields, text) => out(text())
  // level 30 (info) and the log's other fields: tools that read the log read these lines too.
  return (msg, fields) => out(JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, name: 'haltd', ...fields, msg }))
}

async function runDaemon(config: HaltdConfigInput | HaltdConfig, onReady?: (h: Haltd) => Promise<void> | void): Promise<number> {
  // Loaded here, not at the top: `haltd status` and `stop` need none of the daemon.
  const { createHaltd, EXIT } = await import('../daemon/index.js')
  const haltd = await createHaltd(config, { exitProcess: true })
  exitOnCrash(haltd, EXIT.crash)
  await onReady?.(haltd)
  return haltd.exited
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run the daemon from a config file (signals: TERM/INT graceful, USR2 emergency)',
  usage: `haltd run --config FILE [--db FILE] [--port N] [--log-level LEVEL] [--lead]

Starts haltd with the given config (JSON; secrets from the environment: HALTD_ADMIN_TOKEN,
HALTD_VENUE_<NAME>_API_KEY / _SECRET / _PASSWORD / _UID, HALTD_WEBHOOK_URL), reconciles with every
venue, then enables the strategies. SIGTERM or SIGINT: graceful shutdown (13 steps); a second one
during it, or SIGUSR2 at any time: emergency shutdown. A config with failover.role "standby" runs
as \`haltd standby\` (it follows the engine's stream and leads once it takes the lease); so does a
primary that finds another instance leading its engine (restarted after a handover).
--lead runs a standby's config as the engine's leader: it takes the lease at start, as a primary
does (stop the standby process first: they share the log). That is how a standby's instance leads
an engine its leader stopped on purpose, which a standby does not take over by itself. Refused
(exit 1) while another instance leads.

Exit codes: 0 shut down clean (flat where flattening was asked), 2 shut down with residual
exposure or unconfirmed cancels, 3 emergency shutdown (the kill switch stays latched), 1 crash or
bad config.`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { config: 'string', db: 'string', port: 'number', 'log-level': 'string', lead: 'boolean' })
    noArguments(positional)
    if (!flags.config) throw new UsageError('--config FILE is required (haltd demo runs without one)')
    const object: Record<string, unknown> = { signals: true }
    if (flags.db) object.db = { path: flags.db }
    if (flags.port !== undefined) object.admin = { port: flags.port }
    if (flags['log-level']) object.log = { level: flags['log-level'] }
    const loaded = loadConfig({ file: flags.config, object })
    if (flags.lead && !loaded.failover) throw new UsageError(`--lead needs a failover section: ${flags.config} has none`)
    const config = flags.lead && loaded.failover ? { ...loaded, failover: { ...loaded.failover, role: 'primary' as const } } : loaded
    // a config whose role is standby runs as `haltd standby` does
    if (config.failover?.role === 'standby') return runStandby(config)
    logFolder('run', config.db.path)
    try {
      return await runDaemon(config)
    } catch (e) {
      // a primary restarted while another instance leads (a rolling restart, after a handover) comes
      // back as that leader's standby; it was refused before its run was recorded, so its log still follows
      const { LeaseHeld } = await import('../cluster/leadership/lease.js')
      if (!(e instanceof LeaseHeld) || flags.lead) throw e
      process.stderr.write(`haltd run: ${e.message}; following it as a standby\n`)
      return runStandby(config)
    }
  },
}

/** The switches that hold trading back, only when set: ` DRAINING PAUSED DEPLOYMENTS-LOCKED`. */
function switches(s: Pick<StatusBody, 'drain' | 'paused' | 'deploymentsLocked'>): string {
  const on = [
    ...(s.drain && s.drain !== 'Active' ? [s.drain.toUpperCase()] : []),
    ...(s.paused ? ['PAUSED'] : []),
    ...(s.deploymentsLocked ? ['DEPLOYMENTS-LOCKED'] : []),
  ]
  return on.map((x) => ` ${x}`).join('')
}

const col = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length))

export function statusLine(s: DaemonStatus): string {
  const time = new Date().toISOString().slice(11, 19)
  const pos =
    s.positions.length === 0
      ? 'flat'
      : s.positions.map((p) => `${p.venue.replace('-sim', '')} ${p.symbol.split('/')[0]} ${quantityAt(p.qty, p.amountStep)}`).join(', ')
  const up = s.venues.filter((v) => v.connected).length
  const ks = `${s.killSwitch.latched ? ' KILL-SWITCH' : ''}${switches(s)}`
  const sd = s.shutdown ? ` | shutdown ${s.shutdown.procedure} step ${s.shutdown.step ?? '?'} ${s.shutdown.stepName ?? ''}` : ''
  return `[${time}] ${col(s.state.toUpperCase(), 13)} ${s.mode}${ks} | seq ${s.seq} | open orders ${s.openOrders} | ${pos} | P&L ${money(s.pnl.equity)} dd ${money(s.pnl.drawdown)} | venues ${up}/${s.venues.length}${sd}`
}

/** The status line's content as fields, for the JSON form. */
function statusFields(s: DaemonStatus): Record<string, unknown> {
  return {
    state: s.state,
    mode: s.mode,
    seq: s.seq,
    openOrders: s.openOrders,
    positions: s.positions.map((p) => ({ venue: p.venue, symbol: p.symbol, qty: p.qty })),
    pnl: { equity: s.pnl.equity, drawdown: s.pnl.drawdown },
    venues: { up: s.venues.filter((v) => v.connected).length, total: s.venues.length },
    killSwitch: s.killSwitch.latched,
    drain: s.drain,
    paused: s.paused,
    deploymentsLocked: s.deploymentsLocked,
    shutdown: s.shutdown,
  }
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'three simulated venues, sample strategies, the admin API: try SIGTERM and SIGUSR2',
  usage: `haltd demo [--db FILE] [--port N] [--seed N] [--orders N] [--status-every SECONDS]

  --db FILE         the event log (default ${DEMO_DB}); several demos run side by side with different --db
  --port N          admin API port on 127.0.0.1 (default 0: a free port, printed)
  --seed N          same seed, same market and same decisions (default 1)
  --orders N        resting orders to keep open besides the strategies' quotes (try the emergency path at size)
  --status-every S  a one-line status every S seconds (default 5; 0: none)

Stop it with SIGTERM or Ctrl-C (graceful, 13 steps; a second one escalates), or SIGUSR2
(emergency). Exit codes as for haltd run.`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { db: 'string', port: 'number', seed: 'number', orders: 'number', 'status-every': 'number' })
    noArguments(positional)
    const db = flags.db ?? DEMO_DB
    const seed = flags.seed ?? 1
    const orders = flags.orders ?? 0
    if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got ${seed}`)
    if (!Number.isInteger(orders) || orders < 0) throw new UsageError(`--orders must be a whole number, got ${orders}`)
    if (flags['status-every'] !== undefined && flags['status-every'] < 0)
      throw new UsageError(`--status-every must be 0 (off) or more seconds, got ${flags['status-every']}`)
    mkdirSync(dirname(db), { recursive: true })
    const venuesFile = demoVenuesPath(db)
    const fresh = !existsSync(db)
    // the venues belong to their log: a new log starts on new venues, not on what an old one left
    if (fresh) for (const f of [venuesFile, `${venuesFile}-journal`]) rmSync(f, { force: true })
    const venuesAfresh = !fresh && !existsSync(venuesFile)
    const config = demoConfig({ db, port: flags.port ?? 0, seed, orders })
    const every = flags['status-every'] ?? 5
    return runDaemon(config, async (haltd) => {
      const cli = `node ${relative(process.cwd(), process.argv[1] ?? 'dist/src/cli.js') || 'dist/src/cli.js'}`
      const say = printer(stdoutIsJson(haltd.config))
      const banner = demoBanner({ haltd, cli, db, seed, ...(venuesAfresh ? { venuesAfresh: venuesFile } : {}) })
      say('demo ready', banner.fields, () => banner.text)
      const { formatShutdownReport } = await import('../core/shutdown/report.js')
      haltd.on('shutdown', (report) =>
        say('shutdown report', { report, text: formatShutdownReport(report).split('\n') }, () => `\n${formatShutdownReport(report)}`),
      )
      haltd.on('exit', (code) => {
        const meaning = EXIT_MEANING[code] ?? 'unknown'
        const audit = `${cli} audit --db ${db}`
        say('demo exited', { exitCode: code, meaning, audit }, () => `\nhaltd demo exited ${code}: ${meaning}\nread the audit: ${audit}\n`)
      })
      if (orders > 0 && !haltd.gate.halted) await placeResting(haltd, orders, say)
      if (every > 0) {
        const timer = setInterval(() => {
          const s = haltd.status()
          if (s.state !== 'stopped') say('status', statusFields(s), () => statusLine(s))
        }, every * 1000)
        timer.unref()
        haltd.on('exit', () => clearInterval(timer))
      }
    })
  },
}

const EXIT_MEANING: Record<number, string> = {
  0: 'shut down clean',
  1: 'crashed',
  2: 'shut down with residual exposure or unconfirmed cancels',
  3: 'emergency shutdown; the kill switch stays latched until reset with a reason',
}

/** What the demo prints once it is up: where things are, and what to try, in the order that makes sense now. */
function demoBanner(input: { haltd: Haltd; cli: string; db: string; seed: number; venuesAfresh?: string }): {
  text: string
  fields: Record<string, unknown>
} {
  const { haltd, cli, db, seed } = input
  // a log from before the venues kept their state (or whose state file was removed): say why it will not match them
  const afresh = input.venuesAfresh
    ? `the simulated venues start afresh: ${input.venuesAfresh} was not there, so what this log holds from earlier runs is not at the venues`
    : undefined
  const dbArg = db === DEMO_DB ? '' : ` --db ${db}`
  const pid = process.pid
  const halted = haltd.gate.halted
  const rows: [string, string][] = []
  const reset: [string, string] = [`${cli} killswitch reset --reason "checked"${dbArg}`, 'unlatch the kill switch: trading resumes']
  if (halted && haltd.status().killSwitch.latched) rows.push(reset)
  rows.push([`${cli} status${dbArg}`, 'state, orders, positions, venues'])
  if (haltd.admin) {
    rows.push([`TOKEN=$(node -p "require('${resolve(adminInfoPath(db))}').token")`, 'the admin token, for curl'])
    rows.push([`curl -H "Authorization: Bearer $TOKEN" ${haltd.admin.url}/status`, 'also /health /metrics /orders /positions /reconciliation'])
  }
  rows.push([`kill -TERM ${pid}`, 'graceful shutdown, 13 steps (or Ctrl-C); a second one escalates'])
  rows.push([`kill -USR2 ${pid}`, 'emergency shutdown: cancels everything, latches the kill switch'])
  rows.push([`${cli} stop${dbArg}`, 'graceful through the admin API, waits and exits with its code (--emergency)'])
  if (!(halted && haltd.status().killSwitch.latched)) rows.push(reset)
  const width = Math.max(...rows.map(([c]) => c.length))
  const later: [string, string][] = [
    [`${cli} audit --db ${db}`, 'checks and the shutdown timeline'],
    [`${cli} replay --db ${db}`, 'the state as of any seq (--until SEQ, --json)'],
  ]
  const w2 = Math.max(...later.map(([c]) => c.length))
  const status = haltd.status()
  // No token in the fields: JSON lines end up in log collectors; the info file holds it.
  const fields = {
    venues: DEMO_VENUES,
    seed,
    db,
    state: status.state,
    ...(halted ? { halted: haltd.gate.latchReason ?? 'HALTED' } : {}),
    ...(afresh ? { venuesAfresh: afresh } : {}),
    admin: haltd.admin ? { url: haltd.admin.url, infoFile: adminInfoPath(db) } : null,
    try: rows.map(([command, what]) => ({ command, what })),
    afterwards: later.map(([command, what]) => ({ command, what })),
  }
  const text = [
    '',
    `haltd demo: ${DEMO_VENUES.join(', ')} (simulated), seed ${seed}, pid ${pid}`,
    `  event log   ${db}`,
    ...(haltd.admin
      ? [`  admin API   ${haltd.admin.url}  token ${haltd.admin.token}`, `              (url and token also in ${adminInfoPath(db)}, mode 0600)`]
      : ['  admin API   off']),
    `  state       ${status.state.toUpperCase()}${halted ? ` (${haltd.gate.latchReason ?? 'HALTED'})` : ''}`,
    `  venues      ${demoVenuesPath(db)}`,
    ...(afresh ? [`  note        ${afresh}`] : []),
    '',
    'try:',
    ...rows.map(([c, what]) => `  ${c.padEnd(width)}  ${what}`),
    'afterwards:',
    ...later.map(([c, what]) => `  ${c.padEnd(w2)}  ${what}`),
    '',
  ].join('\n')
  return { text, fields }
}

/** The demo's resting orders, sent through the gated router like any engine's. */
async function placeResting(haltd: Haltd, n: number, say: Say): Promise<void> {
  const { SimExchange } = await import('../exchanges/sim/index.js')
  const mids: Record<string, number> = {}
  for (const gw of haltd.venues.values()) {
    if (!(gw instanceof SimExchange)) continue
    for (const sym of ['BTC/USDT:USDT', 'ETH/USDT:USDT']) mids[`${gw.venue} ${sym}`] = gw.ticker(sym).mid
  }
  const plan = restingOrderPlan(n, mids)
  let accepted = 0
  let failed: unknown
  for (let i = 0; i < plan.length && failed === undefined && !haltd.gate.halted; i += 50) {
    const batch = plan
      .slice(i, i + 50)
      .map((o) => haltd.orders.submit({ ...o, type: 'limit', timeInForce: 'GTC', origin: { kind: 'manual', id: 'demo-resting' } }))
    // an order the router cannot record (a full disk) stops the placing, not the demo: haltd stays up, HALTED, for the operator
    for (const r of await Promise.allSettled(batch)) {
      if (r.status === 'rejected') failed ??= r.reason
      else if (r.value.status === 'accepted') accepted++
    }
  }
  // stopped by an order that threw, or by the gate closing under the placing (a log write that failed elsewhere)
  const halted = accepted < n && haltd.gate.halted ? `the order gate closed: ${haltd.status().gate.reason ?? 'HALTED'}` : undefined
  const why = failed === undefined ? halted : failed instanceof Error ? failed.message : String(failed)
  say(
    'resting orders placed',
    { accepted, asked: n, origin: 'manual:demo-resting', ...(why ? { stoppedBy: why } : {}) },
    () => `placed ${accepted}/${n} resting orders (origin manual:demo-resting)${why ? `; stopped: ${why}` : ''}`,
  )
}
