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

    // when both signals are pending at once: the process is held stopped while they are sent. Node
    // usually takes USR2 first (the kernel hands out the lower number first), but its threads may
    // take one each, so either may come first.
    process.kill(d.pid, 'SIGSTOP')
    await waitFor('haltd stopped by SIGSTOP', () => stateOf(d.pid) === 'T', d)
    process.kill(d.pid, 'SIGTERM')
    process.kill(d.pid, 'SIGUSR2')
    process.kill(d.pid, 'SIGCONT')
    const exit = await d.exit

    // then the emergency ran, and one shutdown's stream holds both signals, whichever came first
    expect(exit.code).toBe(3)
    const requested = events(db, ['shutdown.requested'])
    expect(requested).toHaveLength(1)
    const shutdownId = (requested[0]!.data as { shutdownId: string }).shutdownId
    const said = events(db, ['shutdown.requested', 'shutdown.escalated', 'shutdown.request-ignored']).map((e) => {
      const data = e.data as { mode?: string; reason: string }
      return `${e.type} ${data.mode ?? 'emergency'}: ${data.reason}`
    })
    const text = renderText(auditFile(db))
    if ((requested[0]!.data as { mode: string }).mode === 'emergency') {
      // USR2 first: the TERM is recorded as received during the emergency and ignored
      expect(said).toEqual(['shutdown.requested emergency: SIGUSR2 received', 'shutdown.request-ignored graceful: SIGTERM received during emergency shutdown'])
      expect(events(db, ['shutdown.request-ignored'])[0]!.data).toMatchObject({ shutdownId, origin: 'signal' })
      expect(text).toContain('1 further request(s) received and ignored (graceful by signal')
      expect(text).toContain('SIGTERM received during emergency shutdown')
    } else {
      // TERM first: the graceful shutdown it asked for is escalated by the USR2
      expect(said).toEqual(['shutdown.requested graceful: SIGTERM received', 'shutdown.escalated emergency: SIGUSR2 received during graceful shutdown'])
      expect(text).toMatch(/escalated \S+/)
    }
  })
})
