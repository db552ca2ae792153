import { GENESIS_HASH } from '../events/index.js'
import { chainLinker, type StoredRow } from '../core/log/event-log.js'
import type { Finding } from './audit-report.js'

/**
 * The hash chain and seq continuity, checked row by row with one row of look-ahead: what the
 * next row committed to (its prevHash) tells an edited payload from an edited hash, and a row
 * that verifies under a neighbouring seq tells a swap or a renumbering. Each tampered spot is
 * reported once; the breaks it causes further down are explained, not repeated.
 */
export type ChainCheck = {
  push(row: StoredRow): void
  /** Classify the last row (it has no successor) and return the summary. */
  finish(): ChainSummary
}

export type ChainSummary = {
  intact: boolean
  firstBadSeq: number | null
  problem: string | null
  rows: number
  lastSeq: number | null
  headHash: string | null
}

type Pending = {
  row: StoredRow
  computed: string
  selfOk: boolean
  linkOk: boolean
  /** The stored hash of the row before it: what its prevHash should have been. */
  expectedPrev: string
  /** Its link break is already explained by a finding before it (a gap, a tampered predecessor). */
  linkExcused: boolean
}

/** Rows 1…seq already found linked and intact elsewhere: the check goes on after them. */
export type VerifiedPrefix = { seq: number; hash: string; rows: number }

/**
 * `key`: a keyed log's chain key; its links are then checked as HMAC-SHA256 under it.
 * `after`: where an intact prefix ends; the first row pushed is then the one after it.
 */
export function createChainCheck(report: (finding: Finding) => void, key?: Buffer, after?: VerifiedPrefix): ChainCheck {
  const chainHash = chainLinker(key)
  const rehashAs = (row: StoredRow, seq: number, prevHash = row.prevHash): string => chainHash(prevHash, { ...row, seq })
  let expect = (after?.seq ?? 0) + 1
  let prevStored = after?.hash ?? GENESIS_HASH
  let prevComputed = prevStored
  let prevHadProblem = false
  let pending: Pending | undefined
  /** A row already reported as half of a swapped pair: its own classification is skipped. */
  let explainedSeq = -1
  /** The current run of rows that all verify under the same seq offset (renumbered). */
  let shifted: { offset: number; lastSeq: number } | undefined
  let rows = after?.rows ?? 0
  let lastSeq: number | null = after && after.rows > 0 ? after.seq : null
  let first: { seq: number; problem: string } | null = null

  const emit = (check: 'chain' | 'sequence', kind: string, seq: number, message: string): void => {
    if (!first || seq < first.seq) first = { seq, problem: message }
    report({ check, kind, seq, message })
  }

  /** Decide what is wrong with `p`, knowing the row after it (or none, at the tail). Returns whether it had a problem. */
  const classify = (p: Pending, next: StoredRow | undefined): boolean => {
    const { row } = p
    if (row.seq === explainedSeq) return true
    if (!p.selfOk) {
      // a row that verifies under a neighbouring seq was moved: a swap, or rows renumbered after a deletion
      for (const other of [row.seq + 1, row.seq - 1, row.seq + 2, row.seq - 2]) {
        if (other < 1 || rehashAs(row, other) !== row.hash) continue
        if (next && next.seq === row.seq + 1 && other === row.seq + 1 && rehashAs(next, row.seq) === next.hash) {
          emit(
            'chain',
            'chain.rows-swapped',
            row.seq,
            `seq ${row.seq} and seq ${next.seq} were swapped: the event stored at ${row.seq} (${row.type}) was written as seq ${next.seq}, and the one stored at ${next.seq} (${next.type}) as seq ${row.seq}`,
          )
          explainedSeq = next.seq
          return true
        }
        const offset = other - row.seq
        if (shifted && shifted.offset === offset && shifted.lastSeq === row.seq - 1) {
          shifted.lastSeq = row.seq
          return true
        }
        shifted = { offset, lastSeq: row.seq }
        emit(
          'chain',
          'chain.misplaced-row',
          row.seq,
          `seq ${row.seq} (${row.type}) was written as seq ${other}: events were ${offset > 0 ? 'deleted' : 'inserted'} here and the ones after renumbered (each later row moved alike is not listed again)`,
        )
        return true
      }
      if (!p.linkOk && rehashAs(row, row.seq, p.expectedPrev) === row.hash) {
        emit(
          'chain',
          'chain.prev-hash-edited',
          row.seq,
          `seq ${row.seq} (${row.type}): its prevHash column was edited (the event hashes correctly over the previous event's hash)`,
        )
        return true
      }
      if (next && next.prevHash === row.hash) {
        emit(
          'chain',
          'chain.payload-edited',
          row.seq,
          `seq ${row.seq} (${row.type}): the stored contents do not match its hash, and seq ${next.seq} links to that hash: the contents were edited after they were written`,
        )
        return true
      }
      if (next && next.prevHash === p.computed) {
        emit(
          'chain',
          'chain.hash-edited',
          row.seq,
          `seq ${row.seq} (${row.type}): its stored hash was edited: the contents hash to what seq ${next.seq} links to, not to the stored hash`,
        )
        return true
      }
      const which = next ? 'its contents were edited' : 'its contents or its hash were edited (it is the last event, so no successor tells which)'
      emit('chain', 'chain.payload-edited', row.seq, `seq ${row.seq} (${row.type}): the stored contents do not match its hash: ${which}`)
      return true
    }
    if (!p.linkOk && !p.linkExcused) {
      emit(
        'chain',
        'chain.broken-link',
        row.seq,
        `seq ${row.seq} (${row.type}): its prevHash is not the hash of seq ${row.seq - 1}: seq ${row.seq - 1} was rewritten with a recomputed hash, or this event was put in afterwards`,
      )
      return true
    }
    return false
  }

  return {
    push(row) {
      rows++
      lastSeq = row.seq
      let gapBefore = false
      if (row.seq > expect) {
        const range = row.seq - 1 === expect ? `seq ${expect} is` : `seqs ${expect}–${row.seq - 1} are`
        emit('sequence', 'sequence.gap', expect, `${range} missing (the next stored event is seq ${row.seq}): events were deleted`)
        gapBefore = true
      }
      expect = row.seq + 1
      // The row before is judged first: whether it had a problem decides if this row's link break is news.
      if (pending) prevHadProblem = classify(pending, row)
      const computed = chainHash(row.prevHash, row)
      const selfOk = computed === row.hash
      const linkOk = row.prevHash === prevStored || (prevHadProblem && row.prevHash === prevComputed)
      const current: Pending = { row, computed, selfOk, linkOk, expectedPrev: prevStored, linkExcused: gapBefore || prevHadProblem }
      pending = current
      prevStored = row.hash
      prevComputed = computed
    },
    finish() {
      if (pending) classify(pending, undefined)
      pending = undefined
      const f = first as { seq: number; problem: string } | null
      return { intact: f === null, firstBadSeq: f?.seq ?? null, problem: f?.problem ?? null, rows, lastSeq, headHash: rows ? prevStored : null }
    },
  }
}
