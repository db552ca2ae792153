import type { EventLog } from './event-log.js'

/**
 * A position in the chain kept outside the file: `seq` and the hash stored there. Whoever can
 * write the file can rewrite its tail, or the whole chain with recomputed hashes, and `verify`
 * still passes; an anchor an operator kept (from a checkpoint, a shutdown report or its
 * notification) tells whether the log still holds what it held then.
 */
export type LogAnchor = { seq: number; hash: string }

export const anchorOf = (log: EventLog): LogAnchor => ({ seq: log.lastSeq, hash: log.headHash })

export const formatAnchor = (a: LogAnchor): string => `${a.seq}:${a.hash}`

/** `SEQ:HASH` as `formatAnchor` writes it; undefined for anything else. */
export function parseAnchor(text: string): LogAnchor | undefined {
  const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim())
  return m ? { seq: Number(m[1]), hash: m[2]! } : undefined
}

export type AnchorCheck = { ok: true } | { ok: false; kind: 'anchor.missing' | 'anchor.mismatch'; problem: string }

/** Whether the log holds, at the anchor's seq, the event whose hash the anchor kept. */
export function checkAnchor(log: EventLog, anchor: LogAnchor): AnchorCheck {
  const [stored] = [...log.read({ from: anchor.seq, to: anchor.seq })]
  if (!stored || stored.seq !== anchor.seq) {
    return {
      ok: false,
      kind: 'anchor.missing',
      problem: `the log ends at seq ${log.lastSeq}, before the anchored seq ${anchor.seq}: its tail was cut or rewritten`,
    }
  }
  if (stored.hash !== anchor.hash) {
    return {
      ok: false,
      kind: 'anchor.mismatch',
      problem: `seq ${anchor.seq} has hash ${stored.hash}, the anchor kept ${anchor.hash}: the chain up to it was rewritten`,
    }
  }
  return { ok: true }
}
