import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { loadConfig } from '../daemon/config.js'
import { parseFlags, UsageError } from './args.js'
import type { Command } from './command.js'

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
SIGTERM or SIGINT while still a standby: stop following, exit 0.

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
    mkdirSync(dirname(config.db.path), { recursive: true })
    // Loaded here: the other commands need none of the daemon.
    const { createStandby, EXIT } = await import('../daemon/index.js')
    const standby = await createStandby(config, { exitProcess: true })
    out(`haltd standby: instance ${standby.instance} follows engine ${config.nats?.engine} (seq ${standby.status().follower.seq})`)
    const stopAsStandby = () => {
      if (standby.status().role !== 'standby') return
      void standby.close().then(() => process.exit(0))
    }
    process.once('SIGTERM', stopAsStandby)
    process.once('SIGINT', stopAsStandby)
    const haltd = await standby.promoted
    process.off('SIGTERM', stopAsStandby)
    process.off('SIGINT', stopAsStandby)
    out(`haltd standby: instance ${standby.instance} leads engine ${config.nats?.engine} (${haltd.status().state})`)
    const crash = (e: unknown) => {
      haltd.gate.halt('crash')
      haltd.logger.fatal({ err: e }, 'haltd crashed')
      process.exit(EXIT.crash)
    }
    process.on('uncaughtException', crash)
    process.on('unhandledRejection', crash)
    return haltd.exited
  },
}
