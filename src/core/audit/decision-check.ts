import { parseEvent, type HaltdEvent } from '../../events/index.js'
import type { Fact, HaltdState } from '../../projections/index.js'
import type { StoredRow } from '../event-log.js'
import { canonicalJson } from '../shutdown/checkpoint.js'
import { decideShutdown } from '../shutdown/decider.js'
import { evolveShutdown, initialShutdownState, type ShutdownFact, type ShutdownState } from '../shutdown/procedure.js'
import { worldOf } from '../shutdown/world.js'
import type { Finding } from './report.js'

/**
 * Decision replay. The shutdown runner appends each decision of the decider as one batch whose
 * causation id is `<shutdownId>:advance:<n>` (or `:resume:`), asked with the world as the
 * projections stood just before the batch. The audit asks the same decider the same question at
 * the same point of the replay and compares, event by event, with what the log holds. A
 * command-issued event outside any decision batch was decided by nobody: a divergence too.
 */
export type DecisionCheck = {
  /** Called with each valid row before the projections apply it. */
  before(row: Pick<StoredRow, 'seq' | 'causationId'>, fact: Fact, state: HaltdState): void
  finish(): void
  /** How many decisions were re-derived and compared. */
  readonly decisions: number
}

const DECISION = /^(.+):(advance|resume):\d+$/

type Batch = { causationId: string; shutdownId: string; firstSeq: number; expected: HaltdEvent[]; seen: number; diverged: boolean }

/** Defaults applied, keys sorted: how a decided event looks once stored. */
function normal(e: { type: string; data: unknown }): string {
  try {
    const parsed = parseEvent(e)
    return canonicalJson({ type: parsed.type, data: parsed.data })
  } catch {
    return canonicalJson({ type: e.type, data: e.data })
  }
}

const brief = (e: { type: string; data: unknown } | undefined): string => {
  if (!e) return 'nothing'
  const d = e.data as Record<string, unknown>
  if (e.type === 'shutdown.command-issued') return `command-issued ${JSON.stringify(d.command)}`
  if (typeof d.step === 'number') return `${e.type.slice('shutdown.'.length)} step ${d.step} (${String(d.name)})`
  return `${e.type} ${JSON.stringify(d).slice(0, 160)}`
}

export function createDecisionCheck(report: (finding: Finding) => void): DecisionCheck {
  const shutdowns = new Map<string, ShutdownState>()
  let batch: Batch | undefined
  let decisions = 0
  const flag = (kind: string, seq: number, message: string): void => report({ check: 'decision', kind, seq, message })

  const closeBatch = (): void => {
    if (!batch) return
    const b = batch
    batch = undefined
    if (!b.diverged && b.seen < b.expected.length) {
      const missing = b.expected.slice(b.seen)
      flag('decision.missing-events', b.firstSeq, `decision at seq ${b.firstSeq} (${b.causationId}): the decider called for ${missing.length} more event(s) than the log holds, first ${brief(missing[0])}`)
    }
  }

  const stateOf = (shutdownId: string): ShutdownState => {
    let s = shutdowns.get(shutdownId)
    if (!s) {
      s = initialShutdownState()
      shutdowns.set(shutdownId, s)
    }
    return s
  }

  return {
    get decisions() {
      return decisions
    },
    before(row, fact, state) {
      const cause = row.causationId ?? ''
      if (batch && cause !== batch.causationId) closeBatch()
      const m = DECISION.exec(cause)
      const shutdownId = m?.[1]
      if (m && shutdownId !== undefined && !batch && shutdowns.has(shutdownId)) {
        const sState = stateOf(shutdownId)
        let expected: HaltdEvent[]
        try {
          expected = m[2] === 'resume' ? decideShutdown({ kind: 'resume' }, sState) : decideShutdown({ kind: 'advance', world: worldOf(state) }, sState)
        } catch (e) {
          expected = []
          flag('decision.decider-refused', row.seq, `decision at seq ${row.seq} (${cause}): the decider, asked again on the replayed state, refused: ${e instanceof Error ? e.message : String(e)}`)
        }
        decisions++
        batch = { causationId: cause, shutdownId, firstSeq: row.seq, expected, seen: 0, diverged: false }
      }
      if (batch) {
        const want = batch.expected[batch.seen]
        batch.seen++
        if (!batch.diverged && (want === undefined || normal(want) !== normal(fact))) {
          batch.diverged = true
          flag(
            'decision.divergence',
            row.seq,
            `seq ${row.seq}: the log has ${brief(fact)}, but the decider re-run on the replayed state (decision ${batch.causationId} from seq ${batch.firstSeq}) called for ${brief(want)}`,
          )
        }
      } else if (fact.type === 'shutdown.command-issued') {
        flag('decision.undecided-command', row.seq, `seq ${row.seq}: ${brief(fact)} for shutdown ${fact.data.shutdownId} is not part of any decision the shutdown decider made (causation '${cause || 'none'}')`)
      }
      if (fact.type.startsWith('shutdown.')) {
        const id = (fact.data as { shutdownId: string }).shutdownId
        evolveShutdown(stateOf(id), fact as unknown as ShutdownFact)
      }
    },
    finish() {
      closeBatch()
    },
  }
}
