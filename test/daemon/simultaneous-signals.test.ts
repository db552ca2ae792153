import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { auditFile } from '../../src/audit/audit.js'
import { renderText } from '../../src/audit/render/text.js'
import { tempDir } from '../support/tmp.js'
import { events, spawnDemo, waitFor, whenUp } from './processes.js'

/** The state letter of a process in /proc (T: stopped). */
const stateOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
}

describe('SIGTERM and SIGUSR2 arriving together', { timeout: 120_000 }, () => {
  it('runs the emergency and records the SIGTERM as received and ignored, so the log and the audit show both signals', async () => {
    // given a running daemon
    const db = join(tempDir(), 'haltd.db')
    const d = spawnDemo(db)
    await whenUp(d)

    // when both signals are pending at once (the process held stopped while they are sent: the
    // kernel then hands Node the lower number first, USR2 before TERM)
    process.kill(d.pid, 'SIGSTOP')
    await waitFor('haltd stopped by SIGSTOP', () => stateOf(d.pid) === 'T', d)
    process.kill(d.pid, 'SIGTERM')
    process.kill(d.pid, 'SIGUSR2')
    process.kill(d.pid, 'SIGCONT')
    const exit = await d.exit

    // then the emergency ran, and the TERM is in the same shutdown's stream as a request it did not act on
    expect(exit.code).toBe(3)
    const requested = events(db, ['shutdown.requested'])
    expect(requested).toHaveLength(1)
    expect(requested[0]!.data).toMatchObject({ mode: 'emergency', origin: 'signal', reason: 'SIGUSR2 received' })
    const ignored = events(db, ['shutdown.request-ignored'])
    expect(ignored.map((e) => e.data)).toEqual([
      {
        shutdownId: (requested[0]!.data as { shutdownId: string }).shutdownId,
        mode: 'graceful',
        origin: 'signal',
        reason: 'SIGTERM received during emergency shutdown',
      },
    ])
    const text = renderText(auditFile(db))
    expect(text).toContain('1 further request(s) received and ignored (graceful by signal')
    expect(text).toContain('SIGTERM received during emergency shutdown')
  })
})
