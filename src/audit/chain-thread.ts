import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads'
import type { Check, Finding } from './audit-report.js'
import type { ChainSummary } from './chain-check.js'
import type { ChainAnswer, ChainJob } from './chain-worker.js'

/** Chain results computed elsewhere (a second thread), collected once the replay is done. */
export type ExternalChain = () => { summary: ChainSummary; findings: Finding[]; total: number; byCheck: Partial<Record<Check, number>> }

/** Longer than any chain walk here; past it the audit gives up on the thread and walks inline. */
const GIVE_UP_MS = 15 * 60_000

/**
 * Start the chain walk of `path` (rows 1…toSeq) on a worker thread; the returned function blocks
 * until it is done and hands over its findings. Undefined where the compiled worker is not there
 * (running from TypeScript sources) or a thread cannot be started: the caller walks inline.
 */
export function chainOnWorker(path: string, toSeq: number, keep: number, key?: Buffer): ExternalChain | undefined {
  const script = new URL('./chain-worker.js', import.meta.url)
  if (!existsSync(fileURLToPath(script))) return undefined
  const { port1, port2 } = new MessageChannel()
  const done = new SharedArrayBuffer(4)
  let worker: Worker
  try {
    const job: ChainJob = { path, toSeq, keep, port: port2, done, ...(key ? { key: new Uint8Array(key) } : {}) }
    worker = new Worker(script, { workerData: job, transferList: [port2] })
  } catch {
    port1.close()
    return undefined
  }
  worker.unref()
  return () => {
    const flag = new Int32Array(done)
    // Atomics.wait blocks this thread without spinning; the worker sets the flag after posting
    const result = Atomics.wait(flag, 0, 0, GIVE_UP_MS)
    const message = receiveMessageOnPort(port1)?.message as ChainAnswer | undefined
    port1.close()
    void worker.terminate()
    if (result === 'timed-out' || !message) throw new Error('the hash chain walk on its worker thread did not finish')
    if (!message.ok) throw new Error(`the hash chain walk failed: ${message.error}`)
    return message
  }
}
