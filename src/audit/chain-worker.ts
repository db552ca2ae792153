import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { createChainCheck, type ChainSummary } from './chain-check.js'
import { Findings } from './findings.js'
import type { Finding } from './audit-report.js'
import { intactPrefix } from './chain-prefix.js'
import { storedRows } from './rows.js'

/**
 * The hash chain walked on a second thread while the main one replays: its own read-only
 * connection, the rows up to the seq the main thread stops at, the same chain check after the
 * intact prefix found the cheap way. The answer
 * goes through a port the main thread reads synchronously, and a shared flag wakes it.
 */
export type ChainJob = { path: string; toSeq: number; keep: number; port: MessagePort; done: SharedArrayBuffer; key?: Uint8Array }
export type ChainAnswer = { ok: true; summary: ChainSummary; findings: Finding[]; total: number; byCheck: Findings['byCheck'] } | { ok: false; error: string }

function run(job: ChainJob): ChainAnswer {
  const db = new Database(job.path, { readonly: true, fileMustExist: true })
  try {
    const findings = new Findings(job.keep)
    const key = job.key ? Buffer.from(job.key) : undefined
    const prefix = intactPrefix(db, job.toSeq, key)
    const chain = createChainCheck(findings.add, key, prefix)
    if (!prefix.complete) {
      for (const row of storedRows(db, 2000, prefix.seq + 1, job.toSeq)) {
        if (row.seq > job.toSeq) break
        chain.push(row)
      }
    }
    return { ok: true, summary: chain.finish(), findings: findings.kept, total: findings.total, byCheck: findings.byCheck }
  } finally {
    db.close()
  }
}

if (parentPort && workerData) {
  const job = workerData as ChainJob
  let answer: ChainAnswer
  try {
    answer = run(job)
  } catch (e) {
    answer = { ok: false, error: e instanceof Error ? e.message : String(e) }
  }
  job.port.postMessage(answer)
  const flag = new Int32Array(job.done)
  Atomics.store(flag, 0, 1)
  Atomics.notify(flag, 0)
}
