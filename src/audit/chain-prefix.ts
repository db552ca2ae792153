import type Database from 'better-sqlite3'
import { GENESIS_HASH } from '../events/index.js'
import { chainLinker, linkDigest } from '../core/log/event-log.js'
import type { VerifiedPrefix } from './chain-check.js'
import { linkTexts, storedRow } from './rows.js'

/**
 * How far the chain from seq 1 is intact, found the cheap way: each row's link text as SQLite
 * builds it, hashed and compared with the stored hash, and its prevHash compared with the row
 * before's hash. Where SQLite's text does not give the stored hash, the link is rebuilt from the
 * row's columns as the writer built it; only when that fails too (or a seq is missing, or a row
 * cannot be read) does the prefix end there. What lies past it is left to the full chain check,
 * which names what is wrong. `complete`: every row up to `toSeq` is in the prefix.
 */
export function intactPrefix(db: Database.Database, toSeq: number, key?: Buffer): VerifiedPrefix & { complete: boolean } {
  const digest = linkDigest(key)
  const rebuild = chainLinker(key)
  let seq = 0
  let hash = GENESIS_HASH
  let rows = 0
  try {
    for (const [s, stored, prevLength, text] of linkTexts(db, toSeq)) {
      // the exact length makes "starts with the previous hash" mean "is the previous hash"
      const linked = s === seq + 1 && text !== null && prevLength === hash.length && text.startsWith(hash)
      if (!linked) return { seq, hash, rows, complete: false }
      if (digest(text) !== stored) {
        const row = storedRow(db, s)
        if (!row || rebuild(row.prevHash, row) !== stored) return { seq, hash, rows, complete: false }
      }
      seq = s
      hash = stored
      rows++
    }
  } catch {
    return { seq, hash, rows, complete: false }
  }
  return { seq, hash, rows, complete: true }
}
