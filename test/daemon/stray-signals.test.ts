import { describe, expect, it } from 'vitest'
import { bearer, events, runTrading, waitFor } from './processes.js'

describe('signals that are not haltd’s', { timeout: 120_000 }, () => {
  it('given SIGHUP and SIGUSR1 to a trading haltd run, it logs and ignores both: it keeps trading, opens no inspector, and SIGTERM still stops it clean', async () => {
    const { db, d, info } = await runTrading(3)

    d.child.kill('SIGHUP')
    d.child.kill('SIGUSR1')
    await waitFor('both signals logged', () => d.logs().filter((l) => l.signal === 'SIGHUP' || l.signal === 'SIGUSR1').length === 2, d)
    const accepted = events(db, ['order.accepted']).length
    await waitFor('orders still flowing', () => events(db, ['order.accepted']).length > accepted, d)

    expect(d.child.exitCode).toBeNull()
    expect(d.logs().find((l) => l.signal === 'SIGHUP')?.msg).toMatch(/^SIGHUP: ignored: haltd keeps running/)
    expect(d.logs().find((l) => l.signal === 'SIGUSR1')?.msg).toMatch(/^SIGUSR1: ignored: not a haltd signal, and no inspector is opened/)
    expect(d.stderr.join('\n')).not.toMatch(/Debugger listening/)
    const health = await fetch(`${info.url}/health`, { headers: bearer(info.token) })
    expect(health.status).toBe(200)
    expect(events(db, ['shutdown.requested'])).toHaveLength(0)

    d.child.kill('SIGTERM')
    expect(await d.exit).toEqual({ code: 0, signal: null })
  })
})
