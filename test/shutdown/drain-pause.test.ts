import { describe, expect, it } from 'vitest'
import { DrainController, decideDrain, DrainRefused, LockedFunds } from '../../src/core/execution/drain.js'
import { decidePause, PauseController, PauseRefused } from '../../src/core/execution/pause.js'
import { rig, SYMBOL } from './rig.js'

describe('drain decider', () => {
  const active = { phase: 'Active' as const }
  const draining = { phase: 'Draining' as const, reason: 'deploy' }
  it.each([
    [
      'start while active',
      { kind: 'start', reason: 'deploy', origin: 'admin' },
      active,
      [{ type: 'drain.started', data: { reason: 'deploy', origin: 'admin' } }],
    ],
    ['check with orders in flight', { kind: 'check', inFlight: 2 }, draining, []],
    ['check with nothing in flight', { kind: 'check', inFlight: 0 }, draining, [{ type: 'drain.completed', data: { outcome: 'drained', inFlight: 0 } }]],
    ['time out with what remains', { kind: 'time-out', inFlight: 3 }, draining, [{ type: 'drain.completed', data: { outcome: 'timed-out', inFlight: 3 } }]],
    [
      'force when flat',
      { kind: 'force', inFlight: 1, openPositions: 0, force: false, reason: 'r', origin: 'admin' },
      draining,
      [{ type: 'drain.completed', data: { outcome: 'forced', inFlight: 1, reason: 'r', origin: 'admin' } }],
    ],
    [
      'force with positions open, explicitly',
      { kind: 'force', inFlight: 0, openPositions: 2, force: true, reason: 'r', origin: 'admin' },
      draining,
      [{ type: 'drain.completed', data: { outcome: 'forced', inFlight: 0, reason: 'r', origin: 'admin' } }],
    ],
    ['cancel', { kind: 'cancel', reason: 'r', origin: 'admin' }, draining, [{ type: 'drain.canceled', data: { reason: 'r', origin: 'admin' } }]],
  ] as const)('%s', (_name, command, state, expected) => {
    expect(decideDrain(command as Parameters<typeof decideDrain>[0], state)).toEqual(expected)
  })

  it('refuses a forced stop with positions open ("locked funds") unless forced, and a second start', () => {
    expect(() => decideDrain({ kind: 'force', inFlight: 0, openPositions: 1, force: false, reason: 'r', origin: 'admin' }, draining)).toThrow(LockedFunds)
    expect(() => decideDrain({ kind: 'start', reason: 'again', origin: 'admin' }, draining)).toThrow(DrainRefused)
    expect(() => decideDrain({ kind: 'cancel', reason: 'r', origin: 'admin' }, active)).toThrow(/no drain to cancel/)
  })
})

describe('drain on the live engine', () => {
  it('refuses new strategy orders with a clear reason while draining, and completes once the last order is gone', async () => {
    const r = rig()
    await r.rest(1, ['alpha'])
    const drain = new DrainController(r.ports)
    drain.start('deploy', 'admin')
    expect(drain.state.phase).toBe('Draining')
    const refused = await r.router.submit({
      venue: 'alpha',
      symbol: SYMBOL,
      side: 'buy',
      type: 'limit',
      qty: 1,
      price: 90,
      origin: { kind: 'strategy', id: 'mm' },
    })
    expect(refused).toMatchObject({ status: 'refused', reason: 'strategy orders are refused: draining' })
    const waiting = drain.waitForDrain(5_000)
    const [o] = r.world().orders
    await r.router.cancel({ venue: o!.venue, clientOrderId: o!.clientOrderId, symbol: o!.symbol })
    await expect(waiting).resolves.toEqual({ outcome: 'drained', inFlight: 0, remaining: [] })
    expect(r.types('drain.')).toEqual(['drain.started', 'drain.completed'])
  })

  it('times out with what remains, recorded in the log', async () => {
    const r = rig()
    await r.rest(2, ['bravo'])
    const drain = new DrainController(r.ports)
    drain.start('deploy', 'admin')
    const result = await drain.waitForDrain(50)
    expect(result.outcome).toBe('timed-out')
    expect(result.remaining.map((o) => o.venue)).toEqual(['bravo', 'bravo'])
    expect(r.events().at(-1)).toMatchObject({ type: 'drain.completed', data: { outcome: 'timed-out', inFlight: 2 } })
  })
})

describe('forcing a drain on the live engine', () => {
  it('refuses to force a drain while positions are open ("locked funds"), writing nothing; forced explicitly, it records what remains', async () => {
    const r = rig()
    await r.take('alpha', 1)
    await r.rest(1, ['bravo'])
    const drain = new DrainController(r.ports)
    drain.start('deploy', 'admin')
    const before = r.log.lastSeq
    expect(() => drain.force({ reason: 'hurry', origin: 'admin' })).toThrow(LockedFunds)
    expect(() => drain.force({ reason: 'hurry', origin: 'admin' })).toThrow(/1 position\(s\) are still open.*pass force: true/)
    expect(r.log.lastSeq).toBe(before)
    expect(drain.state.phase).toBe('Draining')

    const forced = drain.force({ reason: 'hurry', origin: 'admin', force: true })
    expect(forced).toMatchObject({ outcome: 'forced', inFlight: 1, remaining: [{ venue: 'bravo' }] })
    expect(r.events().at(-1)).toMatchObject({ type: 'drain.completed', data: { outcome: 'forced', inFlight: 1, reason: 'hurry', origin: 'admin' } })
    expect(drain.state.phase).toBe('Drained')
  })
})

describe('pause, resume, freeze', () => {
  it('pause turns strategies off and cancels their orders without stopping anything; resume turns them back on', async () => {
    const r = rig()
    await r.rest(2, ['alpha', 'charlie'])
    const calls: string[] = []
    const strategies = {
      disableAll: () => {
        calls.push('disableAll')
        return ['mm']
      },
      enable: (id: string) => calls.push(`enable ${id}`),
    }
    const pause = new PauseController({ ...r.ports, strategies })
    expect(await pause.pause('market closed', 'admin')).toEqual({ canceled: 4 })
    expect(r.world().orders).toEqual([])
    const refused = await r.router.submit({
      venue: 'alpha',
      symbol: SYMBOL,
      side: 'buy',
      type: 'limit',
      qty: 1,
      price: 90,
      origin: { kind: 'strategy', id: 'mm' },
    })
    expect(refused).toMatchObject({ status: 'refused', reason: 'strategy orders are refused: paused' })
    pause.resume('market open', 'admin')
    expect(calls).toEqual(['disableAll', 'enable mm'])
    expect(r.types('trading.')).toEqual(['trading.paused', 'trading.resumed'])
  })

  it('resume is refused while the kill switch is latched', async () => {
    const r = rig()
    const pause = new PauseController(r.ports)
    await pause.pause('market closed', 'admin')
    r.log.append({ type: 'killswitch.activated', data: { reason: 'drawdown', origin: 'risk', action: 'HALTED' } })
    expect(() => pause.resume('please', 'admin')).toThrow(PauseRefused)
    expect(() => pause.resume('please', 'admin')).toThrow(/kill switch is latched/)
  })

  it('freeze locks deployments and config (observation only); unfreeze unlocks; both need a reason', () => {
    expect(decidePause({ kind: 'freeze', reason: 'audit', origin: 'operator' }, { paused: false, frozen: false })).toEqual([
      { type: 'deployments.locked', data: { reason: 'freeze: audit', origin: 'operator' } },
    ])
    expect(() => decidePause({ kind: 'freeze', reason: 'again', origin: 'operator' }, { paused: false, frozen: true })).toThrow(/locked already/)
    expect(() => decidePause({ kind: 'unfreeze', reason: ' ', origin: 'operator' }, { paused: false, frozen: true })).toThrow(/reason is required/)
    expect(decidePause({ kind: 'unfreeze', reason: 'done', origin: 'operator' }, { paused: false, frozen: true })).toEqual([
      { type: 'deployments.unlocked', data: { reason: 'done', origin: 'operator' } },
    ])
  })
})
