import { loadConfig, type HaltdConfig } from '../daemon/config.js'
import { adminRequest } from '../admin/client.js'
import { parseFlags, UsageError } from './args.js'
import { resolveTarget, TARGET_FLAGS, TARGET_HELP } from './admin-target.js'
import type { Command } from './command.js'
import { operatorName } from './operator.js'
import { exitOnCrash } from './crash.js'
import { logFolder } from './log-folder.js'

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`)

export const standbyCommand: Command = {
  name: 'standby',
  summary: 'follow the engine’s stream as a hot standby, and take over when handed the lease or when it expires',
  usage: `haltd standby --config FILE [--db FILE] [--port N] [--log-level LEVEL]

Needs the nats, replication and failover sections. Follows the engine's JetStream stream into the
local log (each event's chain link checked), keeps the projections warm and sends no order. When the
leader offers it the lease (haltd handover) or the lease expires (the leader died or hung), it
catches up with the stream, takes the lease and runs as the leading haltd over the same log, as
\`haltd run\` does (after an unplanned failover HALTED unless failover.onUnplanned is "active").
An engine its leader stopped on purpose (a shutdown, then the run's end, on the stream) is left
stopped: it keeps following and says so in its log and status; start a leader to trade again (the
primary, or this config with haltd run --lead).
SIGTERM or SIGINT while still a standby: stop following, exit 0; SIGUSR2 is said and ignored (a
standby leads nothing). Once it holds the lease (catching up with the stream, starting to lead) it
is the engine's leader: a signal then is kept and asked of the leader it becomes, as a graceful
shutdown (a second one, or SIGUSR2, an emergency), recorded in its log. It connects to the venues
read-only (market data, order updates) and refuses every order until it leads. \`haltd run\` with
failover.role "standby" in the config does the same.

Exit codes: as haltd run once it leads; 0 stopped as a standby; 1 bad config or the stream could
not be followed.`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { config: 'string', db: 'string', port: 'number', 'log-level': 'string' })
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' (options start with --)`)
    if (!flags.config) throw new UsageError('--config FILE is required')
    const object: Record<string, unknown> = { signals: true }
    if (flags.db) object.db = { path: flags.db }
    if (flags.port !== undefined) object.admin = { port: flags.port }
    if (flags['log-level']) object.log = { level: flags['log-level'] }
    const config = loadConfig({ file: flags.config, object })
    return runStandby(config)
  },
}

/** `haltd standby`, and `haltd run` with `failover.role: "standby"`: follow, then lead once the lease is taken. */
export async function runStandby(config: HaltdConfig): Promise<number> {
  logFolder('standby', config.db.path)
  // Loaded here: the other commands need none of the daemon.
  const { createStandby, EXIT, ignoreStraySignals, installStandbySignals } = await import('../daemon/index.js')
  const standby = await createStandby(config, { exitProcess: true })
  const admin = standby.admin ? `; admin API (read-only until it leads) at ${standby.admin.url}` : ''
  out(`haltd standby: instance ${standby.instance} follows engine ${config.nats?.engine} (seq ${standby.status().follower.seq})${admin}`)
  const signals = installStandbySignals({
    role: () => standby.status().role,
    stopFollowing: () => void standby.close().then(() => process.exit(0)),
    onSignal: (signal, action) => out(`haltd standby: ${signal}: ${action}`),
  })
  standby.takeStopsFrom(() => signals.take())
  const offGaveBack = standby.onGaveBack((why) => signals.gaveBack(why))
  // as a leader does: a closed terminal must not end the standby, nor SIGUSR1 open an inspector in it
  const offStray = ignoreStraySignals(
    (signal, action) => out(`haltd standby: ${signal} ${action}`),
    'the standby keeps following (SIGTERM or SIGINT: stop following)',
  )
  const haltd = await standby.promoted.catch((e: unknown) => {
    signals.off()
    throw e
  })
  signals.promoted(haltd)
  offGaveBack()
  offStray()
  out(`haltd standby: instance ${standby.instance} leads engine ${config.nats?.engine} (${haltd.status().state})`)
  exitOnCrash(haltd, EXIT.crash)
  return haltd.exited
}

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'rebuild a log from the engine’s JetStream stream into a new file and verify its chain',
  usage: `haltd restore --from-stream --config FILE --to FILE

Reads the nats section (servers, engine) and db.chainKeyFile of the config, writes every event of
the engine's stream into a new log at --to (each link checked as it is stored), then verifies the
chain end to end. \`haltd audit --db FILE\` works on the result.

Exit codes: 0 restored and verified; 1 the chain did not verify or the stream broke it; 2 bad input
(no nats section, --to exists).`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { 'from-stream': 'boolean', config: 'string', to: 'string' })
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' (options start with --)`)
    if (!flags['from-stream']) throw new UsageError('--from-stream is required (the only source a restore reads)')
    if (!flags.config) throw new UsageError('--config FILE is required (its nats section names the servers and the engine)')
    if (!flags.to) throw new UsageError('--to FILE is required')
    const config = loadConfig({ file: flags.config })
    if (!config.nats) throw new UsageError(`${flags.config} has no nats section`)
    const { openNatsLink } = await import('../cluster/link.js')
    const { restoreFromStream } = await import('../cluster/replication/restore.js')
    const { readChainKeyFile } = await import('../core/log/chain-key.js')
    const nc = await openNatsLink(config.nats, 'haltd restore')
    try {
      const chainKey = config.db.chainKeyFile ? readChainKeyFile(config.db.chainKeyFile) : undefined
      const { lastSeq, verify } = await restoreFromStream({ nc, engine: config.nats.engine, path: flags.to, ...(chainKey ? { chainKey } : {}) })
      if (!verify.ok) {
        process.stderr.write(`haltd restore: ${flags.to}: chain broken at seq ${verify.seq}: ${verify.problem}\n`)
        return 1
      }
      out(`haltd restore: ${lastSeq} events of engine ${config.nats.engine} restored into ${flags.to}; chain verified end to end`)
      return 0
    } finally {
      await nc.close()
    }
  },
}

export const handoverCommand: Command = {
  name: 'handover',
  summary: 'hand the engine over to a named standby (planned: gate closed, in-flight settled, stream flushed)',
  usage: `haltd handover --to INSTANCE [--reason TEXT]

Sends POST /handover to the leading daemon's admin API and waits for the outcome: the leader closes
its gate, waits for its submits in flight, flushes replication and offers the lease to INSTANCE;
once that standby took it, the old leader ends without a shutdown (its orders stay at the venues).
A standby that does not take the lease within failover.handoverBudgetMs rolls it back.

Exit codes: 0 handed over; 1 rolled back, refused or not reachable.

${TARGET_HELP}`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { ...TARGET_FLAGS, to: 'string', reason: 'string' })
    if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' (options start with --)`)
    if (!flags.to) throw new UsageError('--to INSTANCE is required (the standby to hand over to)')
    const target = resolveTarget(flags)
    const reason = flags.reason ?? `haltd handover by ${operatorName() ?? 'an operator'}`
    const reply = await adminRequest(target, 'POST', '/handover', { to: flags.to, reason })
    const body = reply.body as { result?: { outcome?: string; handoverId?: string; reason?: string }; error?: { code?: string; message?: string } }
    if (reply.status !== 202 || !body.result) {
      process.stderr.write(`haltd handover: refused: ${body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${reply.status}`}\n`)
      return 1
    }
    const r = body.result
    out(`handover ${r.handoverId} to ${flags.to}: ${r.outcome}${r.reason ? ` (${r.reason})` : ''}`)
    return r.outcome === 'handed-over' ? 0 : 1
  },
}
