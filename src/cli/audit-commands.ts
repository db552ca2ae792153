import { createWriteStream, rmSync, writeFileSync } from 'node:fs'
import type { Writable } from 'node:stream'
import { isEventType } from '../events/index.js'
import type { HaltdState } from '../projections/index.js'
import { replayLog } from '../core/log/projection-runner.js'
import { checkAnchor, parseAnchor } from '../core/log/anchor.js'
import { verifyCheckpoint, type CheckpointVerdict } from '../core/shutdown/checkpoint.js'
import { auditFile } from '../audit/audit.js'
import { checkpointDisagreements } from '../audit/checkpoint-against-log.js'
import { worldOf } from '../core/shutdown/world.js'
import { HaltdError } from '../events/errors.js'
import { backupLog } from '../audit/backup.js'
import { writeExport, type ExportFormat } from '../audit/export.js'
import { renderHtml } from '../audit/render/html.js'
import { renderMarkdown } from '../audit/render/markdown.js'
import { renderText } from '../audit/render/text.js'
import { AUDIT_EXIT, exitCodeOf, type AuditReport } from '../audit/audit-report.js'
import { headline } from '../audit/render/sections.js'
import { replayView } from '../audit/state-view.js'
import { renderReplayText } from '../audit/render/replay-text.js'
import { openEventLog, type EventLog } from '../core/log/event-log.js'
import { readChainKeyFile } from '../core/log/chain-key.js'
import { parseFlags, UsageError } from './args.js'
import { cannotWrite, refuseLogAsOutput } from './output.js'
import type { Command } from './command.js'

/** Exit code for input that cannot be read as a haltd log (missing, not SQLite, not a log, corrupt). */
const UNREADABLE = 2

/** `haltd replay`'s exit code when events were not applied: the state shown is incomplete (the audit's findings code, for the same file). */
const REPLAY_INCOMPLETE = 1

function openForReading(command: string, path: string, chainKey?: Buffer): EventLog | undefined {
  try {
    return openEventLog({ path, readonly: true, ...(chainKey ? { chainKey } : {}) })
  } catch (e) {
    process.stderr.write(`haltd ${command}: ${e instanceof Error ? e.message : String(e)}\n`)
    return undefined
  }
}

function requireDb(flags: { db?: string }): string {
  if (!flags.db) throw new UsageError('--db FILE is required')
  return flags.db
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'rebuild the state (orders, positions, P&L, shutdowns) as of a seq or a time, offline',
  usage: [
    'haltd replay --db FILE [--until SEQ | --at ISO-TIME] [--json]',
    '',
    'Replays the log from its first event (snapshots are not used) and prints the state as it was after --until SEQ, or after the',
    'last event stamped at or before --at (e.g. 2025-01-15T09:31:00Z); by default after the last event. A log a live haltd',
    'writes is replayed to its last event when replay opened it; what is appended while it reads is left out.',
    '--json prints one object: seq, stateHash, tradingState, killSwitch, openOrders, positions, pnl,',
    'reconciliation, shutdowns (mode and steps), notApplied (events it could not apply: total, first).',
    'Events this build cannot read (a newer version or type) or apply are listed at the top: the state',
    'lacks what they say. Exit 0; 1 when events were not applied (the state shown is incomplete);',
    '2 when the file cannot be read, or bad input.',
    'It reads the events as stored and does not check the hash chain: `haltd verify` or `haltd audit` tells an edited log.',
  ].join('\n'),
  run: async (args) => {
    const { flags } = parseFlags(args, { db: 'string', until: 'number', at: 'string', json: 'boolean' })
    const db = requireDb(flags)
    if (flags.until !== undefined && flags.at !== undefined) throw new UsageError('give --until or --at, not both')
    if (flags.until !== undefined && (!Number.isInteger(flags.until) || flags.until < 0))
      throw new UsageError(`--until must be a seq (a whole number ≥ 0), got ${flags.until}`)
    let untilTs: number | undefined
    if (flags.at !== undefined) {
      untilTs = Date.parse(flags.at)
      if (Number.isNaN(untilTs)) throw new UsageError(`--at must be an ISO time such as 2025-01-15T09:31:00Z, got '${flags.at}'`)
    }
    const log = openForReading('replay', db)
    if (!log) return UNREADABLE
    try {
      let text: string
      let incomplete = false
      try {
        // The log's end as opened: a live writer appends while this reads, and the state shown
        // must be as of a seq the text can name against that end.
        const end = log.lastSeq
        // from the first event, never from a snapshot: the replay an auditor trusts is the log's own
        const replayed = replayLog(log, {
          fromSnapshot: false,
          until: Math.min(flags.until ?? end, end),
          ...(untilTs !== undefined ? { untilTs } : {}),
        })
        const state: HaltdState = replayed.state
        // rows that passed the reader but not their schema (an edited file) can leave a state no view fits
        const view = replayView(state, replayed.notApplied)
        text = flags.json ? `${JSON.stringify(view)}\n` : renderReplayText(view, { lastSeq: end })
        incomplete = replayed.notApplied.total > 0
      } catch (e) {
        process.stderr.write(
          `haltd replay: the log cannot be replayed: ${e instanceof Error ? e.message : String(e)} (haltd audit --db ${db} names the rows at fault)\n`,
        )
        return UNREADABLE
      }
      process.stdout.write(text)
      return incomplete ? REPLAY_INCOMPLETE : 0
    } finally {
      log.close()
    }
  },
}

const FORMATS = ['text', 'json', 'md', 'html'] as const
type Format = (typeof FORMATS)[number]

function renderReport(report: AuditReport, format: Format): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`
    case 'md':
      return renderMarkdown(report)
    case 'html':
      return renderHtml(report)
    case 'text':
      return renderText(report)
  }
}

export const auditCommand: Command = {
  name: 'audit',
  summary: 'verify a log (chain, schemas, invariants, decisions) and report on it',
  usage: [
    'haltd audit --db FILE [--format text|json|md|html] [--out FILE] [--expect-head SEQ:HASH] [--key-file PATH]',
    '',
    'One streaming pass over the log: the hash chain (first bad seq and what is wrong there), seq gaps,',
    'the schema of every stored event, the shutdown invariants, and decision replay (each logged',
    'shutdown command re-derived from the replayed state). Then the report: shutdown timeline,',
    'reconciliation, final positions and P&L, anomalies, findings. --format html writes one',
    'self-contained page. --expect-head SEQ:HASH (the log head a checkpoint, a shutdown report or its',
    'notification carried) checks that the log still holds that event: a rewritten log with recomputed',
    "hashes passes the chain check but not this one. --key-file PATH: the chain key of a keyed log (the daemon's",
    'db.chainKeyFile); without it a keyed log is audited in all but its chain, and the report says so.',
    "Two verdicts, kept apart: the log's integrity, and each shutdown's outcome (flat and verified, positions kept",
    'as told, residual exposure, unverified venues, unconfirmed cancels, a mismatch, a missed deadline, unfinished),',
    "read at its completion: what it left, the observation each venue's verdict rests on and its age, its cancels,",
    'fills and notifications. The headline says CLEAN only when the log is intact and the last shutdown ended flat and verified.',
    `Exit ${AUDIT_EXIT.clean} log intact and the last shutdown flat and verified (or positions kept as told, verified, or no shutdown);`,
    `${AUDIT_EXIT.findings} findings (whatever the outcome); ${AUDIT_EXIT.unreadable} unreadable input (or a key that does not match the log);`,
    `${AUDIT_EXIT.unsafeOutcome} log intact but the last shutdown not safe (residual exposure, UNVERIFIED, unconfirmed cancels, …, or NOT_LEADER: it ran on an instance that no longer led the engine).`,
  ].join('\n'),
  run: async (args) => {
    const { flags } = parseFlags(args, { db: 'string', format: 'string', out: 'string', 'expect-head': 'string', 'key-file': 'string' })
    const db = requireDb(flags)
    const format = (flags.format ?? 'text') as Format
    if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got '${flags.format}'`)
    if (flags.out) refuseLogAsOutput(flags.out, db)
    const expectHead = flags['expect-head'] === undefined ? undefined : parseAnchor(flags['expect-head'])
    if (flags['expect-head'] !== undefined && !expectHead)
      throw new UsageError(`--expect-head must be SEQ:HASH (a seq and 64 hex digits), got '${flags['expect-head']}'`)
    let report: AuditReport
    try {
      const chainKey = flags['key-file'] === undefined ? undefined : readChainKeyFile(flags['key-file'])
      report = auditFile(db, { ...(expectHead ? { expectHead } : {}), ...(chainKey ? { chainKey } : {}) })
    } catch (e) {
      if (!(e instanceof HaltdError)) throw e
      process.stderr.write(`haltd audit: ${e.message}\n`)
      return UNREADABLE
    }
    const body = renderReport(report, format)
    if (flags.out) {
      try {
        writeFileSync(flags.out, body, { mode: 0o600 })
      } catch (e) {
        rmSync(flags.out, { force: true })
        process.stderr.write(`haltd audit: ${cannotWrite(flags.out, e)}\n`)
        return UNREADABLE
      }
      process.stdout.write(`${headline(report)}; report written to ${flags.out}\n`)
    } else process.stdout.write(body)
    if (report.verdict === 'unreadable')
      process.stderr.write(`haltd audit: ${report.findings.find((f) => f.check === 'read')?.message ?? 'the log is unreadable'}\n`)
    if (report.coverage.chainNote) process.stderr.write(`haltd audit: ${report.coverage.chainNote}\n`)
    // a chain it could not check (a keyed log without its key) is never reported clean
    if (report.verdict === 'clean' && !report.coverage.chainVerified) return UNREADABLE
    return exitCodeOf(report)
  },
}

export const backupCommand: Command = {
  name: 'backup',
  summary: 'copy a log consistently while a daemon may be writing to it, then verify the copy',
  usage: [
    'haltd backup --db FILE --out FILE [--key-file PATH]',
    '',
    "--key-file: the chain key of a keyed log (the daemon's db.chainKeyFile), to verify the copy's chain.",
    'Exit 0 when the copy is taken and its chain verifies, 1 when its chain is broken, 2 when the source cannot be read,',
    'the key does not match the log, or the log is keyed and no key was given (the copy is kept, its chain not checked).',
  ].join('\n'),
  run: async (args) => {
    const { flags } = parseFlags(args, { db: 'string', out: 'string', 'key-file': 'string' })
    const db = requireDb(flags)
    if (!flags.out) throw new UsageError('--out FILE is required')
    let chainKey: Buffer | undefined
    try {
      chainKey = flags['key-file'] === undefined ? undefined : readChainKeyFile(flags['key-file'])
    } catch (e) {
      if (!(e instanceof HaltdError)) throw e
      process.stderr.write(`haltd backup: ${e.message}\n`)
      return UNREADABLE
    }
    const probe = openForReading('backup', db, chainKey)
    if (!probe) return UNREADABLE
    probe.close()
    const { verify, pages } = await backupLog(db, flags.out, chainKey ? { chainKey } : {})
    if (!verify) {
      process.stdout.write(`backup written to ${flags.out} (${pages} pages)\n`)
      process.stderr.write(`haltd backup: ${flags.out}: chain not verified: keyed log, give --key-file\n`)
      return UNREADABLE
    }
    if (!verify.ok) {
      process.stdout.write(`backup written to ${flags.out} but its chain is broken at seq ${verify.seq}: ${verify.problem}\n`)
      return 1
    }
    process.stdout.write(`backup written to ${flags.out}: ${verify.count} events to seq ${verify.lastSeq} (${pages} pages), chain intact\n`)
    return 0
  },
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'export events as NDJSON or CSV for other tools',
  usage: [
    'haltd export --db FILE --format ndjson|csv [--types TYPE,TYPE…] [--out FILE]',
    '',
    'Streams every event (or those of the given types) in seq order, as read: data lifted to the current',
    'schema version. NDJSON: one envelope per line. CSV: seq,id,type,v,ts,time,stream,causationId,',
    'correlationId,data (JSON),prevHash,hash.',
    'Exit 0 when every event is written, 2 when the log cannot be read or the output cannot be written',
    '(a partial --out file is removed; --out may not be the log itself).',
  ].join('\n'),
  run: async (args) => {
    const { flags } = parseFlags(args, { db: 'string', format: 'string', types: 'string', out: 'string' })
    const db = requireDb(flags)
    const format = flags.format as ExportFormat | undefined
    if (format !== 'ndjson' && format !== 'csv') throw new UsageError(`--format must be ndjson or csv${flags.format ? `, got '${flags.format}'` : ''}`)
    const types = flags.types
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean)
    if (types !== undefined && types.length === 0) throw new UsageError('--types names no event type: leave it out to export every event')
    for (const t of types ?? []) if (!isEventType(t)) throw new UsageError(`--types: '${t}' is not an event type`)
    if (flags.out) refuseLogAsOutput(flags.out, db)
    const log = openForReading('export', db)
    if (!log) return UNREADABLE
    const toFile = flags.out !== undefined
    const out: Writable = toFile ? createWriteStream(flags.out!, { mode: 0o600 }) : process.stdout
    // a failed write (a full disk, a directory, a reader gone from the pipe) ends the export with what happened, never an uncaught error
    let failed: NodeJS.ErrnoException | undefined
    const onError = (e: NodeJS.ErrnoException) => {
      failed ??= e
    }
    out.on('error', onError)
    try {
      await writeExport(log.read(types ? { types } : {}), format, out)
      if (toFile) await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
    } catch (e) {
      failed ??= e as NodeJS.ErrnoException
    } finally {
      log.close()
    }
    if (failed === undefined) return 0
    if (toFile) {
      out.destroy()
      rmSync(flags.out!, { force: true })
    } else if (failed.code === 'EPIPE') return 0 // the reader took what it wanted (`| head`)
    process.stderr.write(`haltd export: ${failed.syscall ? cannotWrite(flags.out ?? 'stdout', failed) : failed.message}\n`)
    return UNREADABLE
  },
}

/**
 * The checkpoint's positions, live orders and balances against the log's own state at its seq
 * (replayed from the first event, as `haltd replay --until` does).
 */
function againstLogState(verdict: Extract<CheckpointVerdict, { ok: true }>, log: EventLog, db: string): CheckpointVerdict | { unreadable: string } {
  const { atSeq } = verdict.content
  let replayed: ReturnType<typeof replayLog>
  try {
    replayed = replayLog(log, { fromSnapshot: false, until: atSeq })
  } catch (e) {
    return { unreadable: `the log ${db} cannot be replayed to seq ${atSeq} to compare: ${e instanceof Error ? e.message : String(e)}` }
  }
  if (replayed.notApplied.total > 0) {
    return {
      unreadable: `the log ${db} up to seq ${atSeq} has ${replayed.notApplied.total} event(s) this haltd cannot apply, so its state cannot be compared (haltd replay --db ${db} --until ${atSeq} lists them)`,
    }
  }
  const differences = checkpointDisagreements(verdict.content, worldOf(replayed.state))
  if (differences.length === 0) return verdict
  return { ok: false, path: verdict.path, problem: `the log ${db} at seq ${atSeq} disagrees with what it says: ${differences.join('; ')}` }
}

export const checkpointCommand: Command = {
  name: 'checkpoint',
  summary: "checkpoint verify FILE: check a shutdown checkpoint's format, schema and checksum (and with --db, its contents against the log)",
  usage: [
    'haltd checkpoint verify FILE [--db LOG] [--json]',
    '',
    'With --db, the log must still hold the head the checkpoint recorded (its seq and hash): a log rewritten',
    'after the checkpoint was taken fails. And its positions, live orders and balances must be those the log',
    'gives at that seq (replayed from the first event): a checksum anyone can recompute proves only that the',
    'file is whole. Exit 0 when the checkpoint is intact (and the log agrees), 1 when it is not (unreadable,',
    'not a checkpoint, wrong checksum, the log disagrees), 2 when the log cannot be read.',
  ].join('\n'),
  run: async (args) => {
    const { flags, positional } = parseFlags(args, { json: 'boolean', db: 'string' })
    const [sub, file, ...extra] = positional
    if (sub !== 'verify') throw new UsageError(`unknown checkpoint subcommand '${sub ?? ''}': use 'haltd checkpoint verify FILE'`)
    if (!file) throw new UsageError('haltd checkpoint verify needs the checkpoint FILE')
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`)
    let verdict: CheckpointVerdict = verifyCheckpoint(file)
    if (verdict.ok && flags.db !== undefined) {
      const head = verdict.content.head
      if (!head) verdict = { ok: false, path: file, problem: 'the checkpoint records no log head to check the log against (written by an older haltd)' }
      else {
        const log = openForReading('checkpoint', flags.db)
        if (!log) return UNREADABLE
        try {
          const check = checkAnchor(log, head)
          if (!check.ok) verdict = { ok: false, path: file, problem: `the log ${flags.db} disagrees with it: ${check.problem}` }
          else {
            // a log this haltd cannot read to the checkpoint's seq proves nothing either way
            const compared = againstLogState(verdict, log, flags.db)
            if ('unreadable' in compared) {
              process.stderr.write(`haltd checkpoint: ${compared.unreadable}\n`)
              return UNREADABLE
            }
            verdict = compared
          }
        } finally {
          log.close()
        }
      }
    }
    if (flags.json) {
      const { content: _content, ...summary } = verdict as typeof verdict & { content?: unknown }
      process.stdout.write(`${JSON.stringify(summary)}\n`)
    } else if (verdict.ok) {
      process.stdout.write(`ok: ${file} is a valid checkpoint at seq ${verdict.atSeq}, checksum ${verdict.checksum}\n`)
    } else {
      process.stdout.write(`bad: ${file}: ${verdict.problem}\n`)
    }
    return verdict.ok ? 0 : 1
  },
}
