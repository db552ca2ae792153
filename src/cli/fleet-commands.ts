import { hostname } from 'node:os'
import type { NatsConnection } from '@nats-io/transport-node'
import { HaltdError } from '../events/errors.js'
import { openFleetBuckets } from '../cluster/fleet/buckets.js'
import { FleetAction, type EngineScope, type FleetKillSwitch, type UnreadableFleetKillSwitch } from '../cluster/fleet/control.js'
import { connectNats } from '../cluster/greeting.js'
import { fleetOperator, type FleetOperator, type FleetView } from '../cluster/fleet/operator.js'
import type { FleetMember } from '../cluster/fleet/registry.js'
import type { StopOutcome } from '../cluster/fleet/stop.js'
import { loadConfig } from '../daemon/config.js'
import { parseFlags, UsageError } from './args.js'
import type { Command } from './command.js'
import { operatorName } from './operator.js'
import { oneLine, terminalJson } from './output.js'
import { UNPRINTABLE } from '../events/text.js'
import { readFleetKey } from '../cluster/fleet/signature.js'

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`)

const NATS_FLAGS = { nats: 'string', config: 'string', by: 'string', 'key-file': 'string' } as const
const NATS_HELP = `Where the fleet is: --nats URL[,URL...] (nats://host:4222), or --config FILE (its nats section);
HALTD_NATS_TOKEN supplies a token. A fleet that signs its commands needs its key: --key-file FILE,
or the config's fleet.keyFile; without it, commands go unsigned and engines with a key refuse them. --by NAME signs the action (default: $USER); the host and
this process are recorded with it, in the fleet's history and in each engine's log.
Every command ends within 15 s (stop: its --timeout and 15 s more); a fleet that does not answer
in time ends it with exit 1, naming the step it was in.`

const EXIT_MEANING: Record<number, string> = {
  0: 'shut down clean',
  1: 'crashed',
  2: 'residual exposure or unconfirmed cancels',
  3: 'emergency shutdown',
}

const CONNECT_TIMEOUT_MS = 2_000

class FleetUnreachable extends HaltdError {
  constructor(servers: readonly string[], why: string) {
    super('FLEET_UNREACHABLE', `cannot reach the fleet's NATS at ${servers.join(', ')}: ${why}`)
  }
}

type FleetFlags = { nats?: string | undefined; config?: string | undefined; 'key-file'?: string | undefined }

function serversOf(flags: FleetFlags): { servers: string[]; token?: string | undefined; key?: Buffer | undefined } {
  if (flags.nats && flags.config) throw new UsageError('give --nats URL or --config FILE, not both')
  const keyFile = (file: string | undefined) => (file === undefined ? undefined : readFleetKey(file))
  if (flags.nats) {
    const servers = flags.nats.split(',').map((s) => s.trim())
    for (const s of servers) if (!/^(nats|tls):\/\/[^\s/]+$/.test(s)) throw new UsageError(`--nats: '${s}' is not a NATS URL such as nats://127.0.0.1:4222`)
    return { servers, token: process.env.HALTD_NATS_TOKEN, key: keyFile(flags['key-file']) }
  }
  if (flags.config) {
    const config = loadConfig({ file: flags.config })
    if (!config.nats) throw new UsageError(`${flags.config} has no nats section: the fleet lives in NATS`)
    return { servers: config.nats.servers, token: config.nats.token, key: keyFile(flags['key-file'] ?? config.fleet?.keyFile) }
  }
  throw new UsageError('where is the fleet? give --nats URL or --config FILE')
}

/** How long a command that only reads or writes the fleet's keys may take, connecting included. */
const COMMAND_DEADLINE_MS = 15_000
/** What closing the connection may take: a server gone meanwhile must not hold the command. */
const CLOSE_DEADLINE_MS = 1_000

class FleetTimeout extends HaltdError {
  constructor(servers: readonly string[], ms: number, step: string) {
    super('FLEET_TIMEOUT', `the fleet's NATS at ${servers.join(', ')} gave no answer within ${ms / 1000} s (${step})`)
  }
}

/**
 * Connect, run `f` with the fleet's operator, and always leave NATS, all within `deadlineMs`: a
 * server that takes requests and never answers them (paused, overloaded, JetStream still starting)
 * ends the command with the step it was in, never holds it.
 */
async function withFleet<T>(flags: FleetFlags, f: (op: FleetOperator) => Promise<T>, deadlineMs = COMMAND_DEADLINE_MS): Promise<T> {
  const { servers, token, key } = serversOf(flags)
  let step = 'connecting'
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FleetTimeout(servers, deadlineMs, step)), deadlineMs)
  })
  let nc: NatsConnection | undefined
  try {
    return await Promise.race([
      expired,
      (async () => {
        try {
          nc = await connectNats({ servers, token, timeout: CONNECT_TIMEOUT_MS, name: `haltd-cli-${process.pid}` })
        } catch (e) {
          throw new FleetUnreachable(servers, e instanceof Error ? e.message : String(e))
        }
        step = "opening the fleet's buckets"
        const buckets = await openFleetBuckets(nc, { ttlMs: 10_000, replicas: 1, key }).catch((e: unknown) => {
          throw new FleetUnreachable(servers, `JetStream: ${e instanceof Error ? e.message : String(e)}`)
        })
        step = 'reading and writing the fleet'
        return await f(fleetOperator(buckets, { host: hostname(), instance: `cli-${process.pid}` }))
      })(),
    ])
  } finally {
    clearTimeout(timer)
    const closing = nc?.close().catch(() => {})
    if (closing) await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, CLOSE_DEADLINE_MS).unref())])
  }
}

/** Text an operator signs into the fleet and every engine's log: one printable line, as the admin API asks of a reason. */
function printable(flag: string, text: string): string {
  const bad = UNPRINTABLE.exec(text)
  if (bad)
    throw new UsageError(
      `${flag} must be one line of printable text: it holds ${oneLine(bad[0])} (line breaks, tabs, control characters and bidirectional overrides are refused)`,
    )
  return text
}

const signer = (flags: { by?: string | undefined }): string => {
  if (flags.by !== undefined) {
    if (flags.by.trim() === '') throw new UsageError('--by needs a name')
    return printable('--by', flags.by)
  }
  const by = operatorName()
  if (by === undefined) throw new UsageError('--by NAME is required: this process has no login name to sign with')
  return by
}

function reasonOf(flags: { reason?: string | undefined }): string {
  if (!flags.reason?.trim()) throw new UsageError('--reason TEXT is required: the fleet and every engine record why')
  return printable('--reason', flags.reason)
}

/**
 * The switch in one line. Its fields are whatever was written to NATS, so each character a
 * terminal would act on is shown as its escape: a value cannot rewrite the line that reports it.
 */
export function describeKillSwitch(ks: FleetKillSwitch | UnreadableFleetKillSwitch | null): string {
  return oneLine(describeRaw(ks))
}

function describeRaw(ks: FleetKillSwitch | UnreadableFleetKillSwitch | null): string {
  if (!ks) return 'fleet kill switch: never set'
  if (ks.state === 'unreadable')
    return `fleet kill switch: UNREADABLE (revision ${ks.revision}: ${ks.why}); each engine keeps its state (see LATCHED below); reset or activate to write a readable value`
  if (ks.state === 'reset') return `fleet kill switch: not set (reset by ${ks.by} on ${ks.host} at ${ks.at}: ${ks.reason})`
  const scope = ks.engines === 'all' ? 'all engines' : ks.engines.join(', ')
  return `fleet kill switch: SET (${ks.action}, ${scope}) by ${ks.by} on ${ks.host} at ${ks.at}: ${ks.reason}`
}

const money = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 })

function reach(m: FleetMember): string {
  if (m.reachable) return m.row.fleetSeen ? 'yes' : 'yes (cannot see the fleet)'
  if (m.why === 'unsigned' || m.why === 'forged') return 'NOT TRUSTED'
  return m.why === 'gone' ? 'GONE' : `STALE (${Math.round((m.ageMs ?? 0) / 1000)} s)`
}

/** Whether the fleet key vouches for the row: an unsigned or forged one is said so, never shown as the engine's. */
const SIGNED: Record<string, string> = { signed: 'yes', unsigned: 'UNSIGNED', forged: 'FORGED' }

/** One line per engine: the fleet view as a table. */
export function formatFleet(view: FleetView): string {
  // only a reader with the fleet key checks the rows: without it there is nothing to show
  const checked = view.engines.some((m) => m.signature !== undefined)
  const rows = view.engines.map((m) => {
    const r = m.row
    const ks = r?.killSwitch.latched ? `LATCHED (${r.killSwitch.scope})` : r ? '-' : '?'
    return [
      m.engine,
      r?.instance ?? '-',
      r?.host ?? '-',
      r?.role ?? '-',
      r ? `${r.state}${r.step ? ` ${r.step}` : ''}${r.exit ? ` exit ${r.exit.code}` : ''}` : '-',
      r ? String(r.openOrders) : '-',
      r ? money(r.grossExposure) : '-',
      r?.lastEventAt ?? '-',
      ks,
      reach(m),
      ...(checked ? [m.signature ? (SIGNED[m.signature] ?? '-') : '-'] : []),
    ].map(oneLine)
  })
  const head = ['ENGINE', 'INSTANCE', 'HOST', 'ROLE', 'STATE', 'OPEN', 'EXPOSURE', 'LAST EVENT', 'KILL SWITCH', 'REACHABLE', ...(checked ? ['SIGNED'] : [])]
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  const untrusted = view.engines.flatMap((m) =>
    !m.reachable && (m.why === 'unsigned' || m.why === 'forged')
      ? [
          oneLine(
            `${m.engine}${m.row ? ` (${m.row.instance} on ${m.row.host})` : ''}: ${m.why === 'forged' ? 'FORGED' : 'UNSIGNED'}: ${m.problem ?? 'not signed under the fleet key'}; not counted as the engine's`,
          ),
        ]
      : [],
  )
  return [
    describeKillSwitch(view.killSwitch),
    '',
    line(head),
    ...rows.map(line),
    ...(rows.length === 0 ? ['(no engine has joined the fleet)'] : []),
    ...(untrusted.length > 0 ? ['', ...untrusted] : []),
  ].join('\n')
}

function scopeOf(flags: { engines?: string | undefined; all?: boolean | undefined }): EngineScope {
  if (flags.engines !== undefined && flags.all) throw new UsageError('give --engines a,b or --all, not both')
  if (flags.engines === undefined) return 'all'
  const names = flags.engines.split(',').map((e) => e.trim())
  if (names.some((n) => n === '')) throw new UsageError(`--engines: an empty name in '${flags.engines}'`)
  return names
}

function actionOf(raw: string | undefined): FleetAction {
  if (raw === undefined) return 'HALTED'
  const parsed = FleetAction.safeParse(raw.toUpperCase())
  if (!parsed.success) throw new UsageError(`--action must be HALTED or EMERGENCY, got '${raw}'`)
  return parsed.data
}

function outcomeLine(o: StopOutcome): string {
  const secs = (o.afterMs / 1000).toFixed(1)
  if (o.outcome === 'exited') return `${o.engine}: exit ${o.exitCode} (${EXIT_MEANING[o.exitCode ?? -1] ?? 'unknown'}) after ${secs} s`
  if (o.outcome === 'gone') return `${o.engine}: GONE after ${secs} s without reporting its exit`
  return `${o.engine}: no outcome within ${secs} s`
}

export const fleetCommand: Command = {
  name: 'fleet',
  summary: "the desk's fleet of engines: status, the fleet kill switch, a fleet-wide stop",
  usage: `haltd fleet status [--json]
haltd fleet killswitch activate --reason TEXT [--action HALTED|EMERGENCY] [--engines a,b | --all]
haltd fleet killswitch reset --reason TEXT
haltd fleet killswitch history [--json]
haltd fleet stop [--emergency] [--reason TEXT] [--timeout SECONDS] [--valid-for SECONDS]

status      one row per engine: state (and shutdown step), open orders, gross exposure, last
            event, kill switch, and whether it is reachable (a row not refreshed is STALE; an
            engine whose rows expired is GONE); with the fleet key, whether the row is SIGNED
            under it: an UNSIGNED or FORGED row is NOT TRUSTED, named below the table, and
            neither answers for its engine nor keeps a stop from it
killswitch  activate: every engine named (all by default) closes its gate and records it; HALTED
            halts and latches, EMERGENCY runs the emergency procedure. Latched in NATS: an engine
            that starts while it is set comes up HALTED. reset: each engine the fleet latched
            records the reset and trades again. history: every activation and reset kept.
stop        asks each running engine for its procedure (graceful, or --emergency) and prints
            each outcome and exit code as it finishes; exits with the highest exit code (1 when an
            engine gave none). An engine the fleet knows but cannot see now (STALE or GONE: cut
            from NATS, or dead) is asked too: it acts on the request when it sees the fleet again,
            within --valid-for (default 900 s), unless it restarted since the request; it is listed
            as pending, not followed, and counts as giving no exit code. With the fleet key, a name
            known only by NOT TRUSTED rows is not asked; it is named, and counts as giving no exit
            code too (haltd cannot tell whether such an engine runs)

${NATS_HELP}`,
  run: async (args) => {
    const [sub, ...rest] = args
    if (sub === 'status') {
      const { flags, positional } = parseFlags(rest, { ...NATS_FLAGS, json: 'boolean' })
      if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`)
      const view = await withFleet(flags, (op) => op.view())
      out(flags.json ? terminalJson(view) : formatFleet(view))
      return 0
    }
    if (sub === 'killswitch') {
      const [verb, ...more] = rest
      const { flags, positional } = parseFlags(more, { ...NATS_FLAGS, reason: 'string', action: 'string', engines: 'string', all: 'boolean', json: 'boolean' })
      if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`)
      if (verb === 'activate') {
        const input = { by: signer(flags), reason: reasonOf(flags), action: actionOf(flags.action), engines: scopeOf(flags) }
        const ks = await withFleet(flags, (op) => op.activate(input))
        out(describeKillSwitch(ks))
        return 0
      }
      if (verb === 'reset') {
        for (const f of ['action', 'engines', 'all'] as const)
          if (flags[f] !== undefined) throw new UsageError(`--${f} is for activate; a reset clears the switch for every engine`)
        const input = { by: signer(flags), reason: reasonOf(flags) }
        const ks = await withFleet(flags, (op) => op.reset(input))
        out(describeKillSwitch(ks))
        return 0
      }
      if (verb === 'history') {
        const history = await withFleet(flags, (op) => op.history())
        out(flags.json ? terminalJson(history) : history.map((h) => describeKillSwitch(h).replace(/^fleet kill switch: /, '')).join('\n') || '(never set)')
        return 0
      }
      throw new UsageError("expected 'activate', 'reset' or 'history' (haltd fleet killswitch activate --reason TEXT)")
    }
    if (sub === 'stop') {
      const { flags, positional } = parseFlags(rest, { ...NATS_FLAGS, emergency: 'boolean', reason: 'string', timeout: 'number', 'valid-for': 'number' })
      if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`)
      if (flags.timeout !== undefined && flags.timeout <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got ${flags.timeout}`)
      const validFor = flags['valid-for']
      if (validFor !== undefined && validFor <= 0) throw new UsageError(`--valid-for must be a positive number of seconds, got ${validFor}`)
      if (flags.reason !== undefined && flags.reason.trim() === '') throw new UsageError('--reason must not be empty')
      if (flags.reason !== undefined) printable('--reason', flags.reason)
      const mode = flags.emergency ? 'emergency' : 'graceful'
      const input = {
        by: signer(flags),
        mode,
        reason: flags.reason ?? `fleet ${mode} stop`,
        validForMs: validFor === undefined ? undefined : validFor * 1000,
      } as const
      const timeoutMs = (flags.timeout ?? 120) * 1000
      const { outcomes, pending, untrusted } = await withFleet(
        flags,
        async (op) => {
          const { id, engines, pending, untrusted, validUntil } = await op.stop(input)
          out(engines.length === 0 ? 'no running engine in the fleet' : `asked ${engines.length} engine(s) for their ${mode} shutdown: ${engines.join(', ')}`)
          if (pending.length > 0) out(`pending until ${validUntil}, out of view (each acts on it when it sees the fleet again): ${pending.join(', ')}`)
          if (untrusted.length > 0)
            out(`not asked, known only by rows NOT TRUSTED (not signed under the fleet key; haltd fleet status says why): ${untrusted.join(', ')}`)
          return { outcomes: await op.follow({ id, engines, timeoutMs, onOutcome: (o) => out(outcomeLine(o)) }), pending, untrusted }
        },
        // following the engines takes up to --timeout; asking them and the rest, the usual deadline
        timeoutMs + COMMAND_DEADLINE_MS,
      )
      return outcomes.reduce((worst, o) => Math.max(worst, o.exitCode ?? 1), pending.length + untrusted.length > 0 ? 1 : 0)
    }
    throw new UsageError("expected 'status', 'killswitch' or 'stop' (haltd fleet --help)")
  },
}
