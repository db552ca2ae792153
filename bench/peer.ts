import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/** The peer's own package folder (bench/peer, beside the sources; the compiled bench runs from dist/bench). */
const PEER_DIR = fileURLToPath(new URL('../../bench/peer/', import.meta.url))

export type EmmettStore = {
  appendToStream(stream: string, events: { type: string; data: unknown }[]): Promise<unknown>
  readStream(stream: string): Promise<{ events: unknown[] }>
}

/**
 * @event-driven-io/emmett-sqlite, from bench/peer's own install (`npm run bench` installs it
 * there first). haltd's users never compile its node-sqlite3 binding. Throws, saying how to
 * install it, when it is not there.
 */
export function loadEmmettSqlite(): { getSQLiteEventStore(o: { fileName: string }): EmmettStore } {
  if (!existsSync(`${PEER_DIR}node_modules`)) {
    throw new Error(`the peer is not installed (run: npm ci --prefix bench/peer, or npm run bench)`)
  }
  return createRequire(`${PEER_DIR}package.json`)('@event-driven-io/emmett-sqlite') as ReturnType<typeof loadEmmettSqlite>
}
