import { existsSync } from 'node:fs'
import { adminRequest, type AdminReply } from '../admin/client.js'
import { openEventLog } from '../event-log.js'
import { parseFlags, UsageError } from './args.js'
import { resolveTarget, TARGET_FLAGS, TARGET_HELP } from './admin-target.js'
import { registerCommand } from './main.js'

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`)
const err = (s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`)

function refusal(reply: AdminReply): string {
  const body = reply.body as { error?: { code?: string; message?: string } } | undefined
  return body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${reply.status}`
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The exit code the daemon recorded for its last run, once it has gone. */
function recordedExit(db: string | undefined): number | undefined {
  if (!db || !existsSync(db)) return undefined
  const log = openEventLog({ path: db, readonly: true })
  try {
    let code: number | undefined
    for (const e of log.read({ types: ['run.ended'], from: Math.max(1, log.lastSeq - 50_000) })) if (e.type === 'run.ended') code = e.data.exitCode
    return code
  } finally {
    log.close()
  }
}

registerCommand({
  name: 'stop',
  summary: 'ask a running daemon to shut down (graceful, or --emergency) and wait for it',
  usage: `haltd stop [--emergency] [--reason TEXT] [--no-wait] [--timeout SECONDS]

Sends POST /shutdown to the daemon's admin API, then waits until the process has gone and prints
the exit code it recorded. A stop sent during a graceful shutdown with --emergency escalates it.

Exit code: the daemon's own (0 clean, 2 residual exposure or unconfirmed cancels, 3 emergency)
once it has gone; 0 with --no-wait once the request was accepted; 1 when it was refused or the
daemon could not be reached; 4 when it was still running at --timeout.

${TARGET_HELP}`,
  run: async (args) => {
    const { flags } = parseFlags(args, { ...TARGET_FLAGS, emergency: 'boolean', reason: 'string', 'no-wait': 'boolean', timeout: 'number' })
    const target = resolveTarget(flags)
    const mode = flags.emergency ? 'emergency' : 'graceful'
    const reason = flags.reason ?? `haltd stop${flags.emergency ? ' --emergency' : ''} by ${process.env.USER ?? 'an operator'}`
    const reply = await adminRequest(target, 'POST', '/shutdown', { mode, reason })
    if (reply.status !== 202) {
      err(`haltd stop: refused: ${refusal(reply)}`)
      return 1
    }
    out(`${mode} shutdown requested (${target.url}): ${reason}`)
    if (flags['no-wait']) return 0
    const pid = target.info?.pid
    const deadline = Date.now() + (flags.timeout ?? 600) * 1000
    // Gone means: the pid is gone (same host), or the admin API no longer answers.
    for (;;) {
      if (pid !== undefined ? !alive(pid) : await adminRequest(target, 'GET', '/health', undefined, 2_000).then(() => false, () => true)) break
      if (Date.now() > deadline) {
        err(`haltd stop: still running after ${flags.timeout ?? 600} s`)
        return 4
      }
      await new Promise((r) => setTimeout(r, 200))
    }
    const code = recordedExit(target.db)
    out(code === undefined ? 'stopped' : `stopped with exit code ${code}`)
    return code ?? 0
  },
})

type StatusBody = {
  state?: string
  mode?: string
  pid?: number
  seq?: number
  killSwitch?: { latched: boolean; reason?: string; by?: string }
  openOrders?: number
  positions?: { venue: string; symbol: string; qty: number }[]
  venues?: { venue: string; connected: boolean }[]
  strategies?: { id: string; enabled: boolean }[]
  shutdown?: { shutdownId: string; mode: string; step?: number; stepName?: string } | null
  pnl?: { equity?: number; drawdown?: number }
}

export function formatStatus(s: StatusBody): string {
  const lines = [
    `state ${s.state ?? '?'}  mode ${s.mode ?? '?'}  pid ${s.pid ?? '?'}  seq ${s.seq ?? '?'}`,
    `kill switch: ${s.killSwitch?.latched ? `LATCHED (${s.killSwitch.reason ?? ''}${s.killSwitch.by ? `, by ${s.killSwitch.by}` : ''})` : 'not latched'}`,
    `open orders: ${s.openOrders ?? 0}`,
  ]
  const open = (s.positions ?? []).filter((p) => p.qty !== 0)
  lines.push(`positions: ${open.length === 0 ? 'flat' : open.map((p) => `${p.venue} ${p.symbol} ${p.qty}`).join(', ')}`)
  if (s.venues?.length) lines.push(`venues: ${s.venues.map((v) => `${v.venue} ${v.connected ? 'up' : 'DOWN'}`).join(', ')}`)
  if (s.strategies?.length) lines.push(`strategies: ${s.strategies.map((x) => `${x.id} ${x.enabled ? 'on' : 'off'}`).join(', ')}`)
  if (s.pnl) lines.push(`equity ${s.pnl.equity?.toFixed(2) ?? '?'}  drawdown ${s.pnl.drawdown?.toFixed(2) ?? '?'}`)
  if (s.shutdown) lines.push(`shutdown ${s.shutdown.shutdownId} (${s.shutdown.mode}) at step ${s.shutdown.step ?? '?'} ${s.shutdown.stepName ?? ''}`.trimEnd())
  return lines.join('\n')
}

registerCommand({
  name: 'status',
  summary: "a running daemon's state, kill switch, orders, positions and venues",
  usage: `haltd status [--json]

Exit code: 0 when the daemon answered, 1 when it could not be reached.

${TARGET_HELP}`,
  run: async (args) => {
    const { flags } = parseFlags(args, { ...TARGET_FLAGS, json: 'boolean' })
    const target = resolveTarget(flags)
    const reply = await adminRequest(target, 'GET', '/status')
    if (reply.status !== 200) {
      err(`haltd status: ${refusal(reply)}`)
      return 1
    }
    out(flags.json ? JSON.stringify(reply.body, null, 2) : formatStatus(reply.body as StatusBody))
    return 0
  },
})

registerCommand({
  name: 'killswitch',
  summary: 'reset (or activate) the latched kill switch of a running daemon, with a reason',
  usage: `haltd killswitch reset --reason TEXT [--by NAME]
haltd killswitch activate --reason TEXT [--by NAME] [--action HALTED|REDUCING|EMERGENCY]

A latched kill switch survives restarts; only a reset with a reason unlatches it. The reset is
recorded in the log with its reason and origin.

${TARGET_HELP}`,
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { ...TARGET_FLAGS, reason: 'string', by: 'string', action: 'string' })
    const [sub] = positional
    if (sub !== 'reset' && sub !== 'activate') throw new UsageError("expected 'reset' or 'activate' (haltd killswitch reset --reason TEXT)")
    if (!flags.reason?.trim()) throw new UsageError('--reason TEXT is required: the log records why')
    const target = resolveTarget(flags)
    const body = { reason: flags.reason, by: flags.by ?? process.env.USER, ...(sub === 'activate' && flags.action ? { action: flags.action } : {}) }
    const reply = await adminRequest(target, 'POST', `/killswitch/${sub}`, body)
    if (reply.status !== 202) {
      err(`haltd killswitch ${sub}: refused: ${refusal(reply)}`)
      return 1
    }
    out(`kill switch ${sub === 'reset' ? 'reset' : 'activated'}: ${flags.reason}`)
    return 0
  },
})
