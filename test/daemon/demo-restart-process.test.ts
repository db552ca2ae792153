import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { replayLog } from '../../src/core/log/projection-runner.js'
import { demoVenuesPath } from '../../src/daemon/demo.js'
import { tempDir } from '../support/tmp.js'
import { events, spawnDemo, waitFor, whenUp, type Daemon } from './processes.js'

type Report = { outcome: string; exitCode: number; reconciliation: { verdict: string; problemCount: number }; positions: unknown[] }

/** The positions the log holds now, by replaying it read-only. */
function loggedPositions(db: string): { venue: string; symbol: string; qty: number }[] {
  const log = openEventLog({ path: db, readonly: true })
  try {
    const { state } = replayLog(log, { fromSnapshot: false })
    return [...state.positions.values()].filter((p) => Math.abs(p.qty) > 1e-9).map((p) => ({ venue: p.venue, symbol: p.symbol, qty: p.qty }))
  } finally {
    log.close()
  }
}

const startupLine = (d: Daemon) => d.logs().find((l) => l.msg === 'startup reconciliation done')!
const reportOf = (d: Daemon) => d.logs().find((l) => l.msg === 'shutdown report')?.report as Report | undefined

describe('the demo killed with SIGKILL and started again', { timeout: 120_000 }, () => {
  it('given a demo holding positions and resting orders, when it is killed hard and started again, then the restart finds them at the venues and SIGTERM ends clean and reconciled', async () => {
    const db = join(tempDir(), 'demo.db')

    // given: a demo that traded (positions in the log) and keeps resting orders open
    const first = spawnDemo(db, ['--orders', '12'])
    await whenUp(first)
    await waitFor('the resting orders', () => first.logs().some((l) => l.msg === 'resting orders placed' && l.accepted === 12), first)
    await waitFor('a position', () => events(db, ['order.filled']).length >= 3 && loggedPositions(db).length > 0, first)
    expect(existsSync(demoVenuesPath(db))).toBe(true)

    // when: it is killed without a chance to shut down, and started again on the same log
    first.child.kill('SIGKILL')
    expect(await first.exit).toMatchObject({ signal: 'SIGKILL' })
    const held = loggedPositions(db)
    expect(held.length).toBeGreaterThan(0)

    const again = spawnDemo(db)
    await whenUp(again)

    // then: the venues still hold what the log says they hold
    expect(startupLine(again)).toMatchObject({ mismatches: 0, unreachable: 0, foreign: 0 })
    const ready = await waitFor('the banner', () => again.logs().find((l) => l.msg === 'demo ready'), again)
    expect(ready).not.toHaveProperty('venuesAfresh')
    expect(events(db, ['run.crashed'])).toHaveLength(1)

    // and SIGTERM flattens, reconciles and exits 0
    again.child.kill('SIGTERM')
    const { code } = await again.exit
    const report = reportOf(again)
    expect(report, again.stdout.slice(-20).join('\n')).toBeDefined()
    expect(report!.reconciliation).toMatchObject({ verdict: 'OK', problemCount: 0 })
    expect(report!).toMatchObject({ outcome: 'clean', exitCode: 0, positions: [] })
    expect(code).toBe(0)
    expect(loggedPositions(db)).toEqual([])
  })

  it('given a log whose venue state was removed, when the demo starts on it, then it says the venues start afresh instead of passing the mismatch off as the venues disagreeing', async () => {
    const db = join(tempDir(), 'demo.db')
    const first = spawnDemo(db)
    await whenUp(first)
    await waitFor('a position', () => loggedPositions(db).length > 0, first)
    first.child.kill('SIGKILL')
    await first.exit
    for (const f of ['', '-journal']) rmSync(`${demoVenuesPath(db)}${f}`, { force: true })

    const again = spawnDemo(db)
    await whenUp(again)
    const ready = await waitFor('the banner', () => again.logs().find((l) => l.msg === 'demo ready'), again)
    expect(String(ready.venuesAfresh)).toContain(demoVenuesPath(db))
    again.child.kill('SIGTERM')
    await again.exit
  })
})
