import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Envelope } from '../../src/events/index.js'
import { replayShutdownDecisions } from '../../src/audit/decision-replay.js'
import { auditLog } from '../../src/audit/audit.js'
import { observeVenue } from '../../src/core/execution/venue-recorder.js'
import { verifyCheckpoint } from '../../src/core/shutdown/checkpoint.js'
import { emergencyFromRisk, findUnfinishedShutdown } from '../../src/core/shutdown/controller.js'
import { GRACEFUL_STEPS } from '../../src/core/shutdown/graceful.js'
import { parseShutdownOptions } from '../../src/core/shutdown/options.js'
import { worldOf } from '../../src/core/shutdown/world.js'
import { replayLog } from '../../src/core/log/projection-runner.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import type { Notification } from '../../src/daemon/notify/notifier.js'
import type { SimExchange } from '../../src/exchanges/sim/index.js'
import { MID, rig, SYMBOL, type Rig } from './rig.js'

const dataOf = <T>(e: Envelope) => e.data as T

function stepTimeline(r: Rig): string[] {
  return r
    .events()
    .filter((e) => e.type.startsWith('shutdown.step-'))
    .map((e) => `${e.type.slice('shutdown.step-'.length)} ${dataOf<{ step: number }>(e).step}`)
}

/** Every step-started has exactly one end event after it, in the same shutdown. */
function unendedSteps(r: Rig): string[] {
  const open = new Map<string, number>()
  for (const e of r.events()) {
    if (!e.type.startsWith('shutdown.step-')) continue
    const { shutdownId, step, name } = dataOf<{ shutdownId: string; step: number; name: string }>(e)
    const key = `${shutdownId}/${step}/${name}`
    if (e.type === 'shutdown.step-started') open.set(key, (open.get(key) ?? 0) + 1)
    else if (e.type !== 'shutdown.step-skipped') open.set(key, (open.get(key) ?? 0) - 1)
  }
  return [...open].filter(([, n]) => n !== 0).map(([k]) => k)
}

const completedOf = (r: Rig) =>
  r.events().find((e) => e.type === 'shutdown.completed')?.data as { outcome: string; exitCode: number; durationMs: number } | undefined

describe('graceful shutdown on three simulated venues', () => {
  it('runs all 13 steps in order, each with a start and an end, cancels everything, flattens, and ends clean and replayable', async () => {
    const reports: unknown[] = []
    const told: Notification[] = []
    const notifier = {
      notify: async (n: Notification) => {
        told.push(n)
        return [{ sink: 'test', ok: true }]
      },
    }
    const r = rig({ options: { graceful: { flatten: 'aggressive', settleMs: 100 } }, ports: { onReport: (rep) => reports.push(rep), notifier } })
    await r.rest(4)
    await r.take('alpha', 2)
    await r.take('bravo', -1.5)
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

    expect(report).toMatchObject({ outcome: 'clean', exitCode: 0, positions: [], openOrders: { count: 0 }, cancelUnconfirmed: [] })
    const started = r
      .events()
      .filter((e) => e.type === 'shutdown.step-started')
      .map((e) => dataOf<{ step: number }>(e).step)
    expect(started).toEqual(GRACEFUL_STEPS.map((s) => s.step).filter((s) => s !== 3))
    expect(stepTimeline(r)).toContain('skipped 3')
    expect(unendedSteps(r)).toEqual([])
    // every order canceled on the venue's word, every flatten reduce-only and from the shutdown
    expect(r.world().orders).toEqual([])
    for (const e of r.events().filter((x) => x.type === 'order.canceled'))
      expect(['ack', 'stream', 'mass-cancel', 'open-orders']).toContain(dataOf<{ confirmedBy: string }>(e).confirmedBy)
    const flattens = r.events().filter((e) => e.type === 'order.submitted' && dataOf<{ origin: { kind: string } }>(e).origin.kind === 'shutdown')
    expect(flattens.length).toBe(2)
    for (const f of flattens) expect(dataOf<{ reduceOnly: boolean }>(f).reduceOnly).toBe(true)
    // the checkpoint on disk verifies and the report reached the port
    const written = r.events().find((e) => e.type === 'checkpoint.written')!
    expect(verifyCheckpoint(dataOf<{ path: string }>(written).path)).toMatchObject({ ok: true })
    expect(reports).toHaveLength(1)
    // step 1 told everyone the status is SHUTTING_DOWN_SOON; step 13 told them how it ended
    expect(told.map((n) => [n.topic, n.fields?.status])).toEqual([
      ['shutdown.announce', 'SHUTTING_DOWN_SOON'],
      ['shutdown.completed', 'SHUT_DOWN'],
    ])
    // each carries the log's head as it left, an anchor the receiver keeps outside the log
    for (const n of told) expect(n.fields?.logHead).toMatch(/^\d+:[0-9a-f]{64}$/)
    expect(told[1]!.text).toMatch(
      /^haltd shut down \(graceful, clean\): deploy\. positions flat; 0 order\(s\) still live; P&L realized -?\d+\.\d\d, unrealized -?\d+\.\d\d, fees \d+\.\d\d; reconciliation (OK|\d+ problem\(s\))$/,
    )
    // the venue connections were closed and recorded
    expect(r.types('venue.disconnected')).toHaveLength(3)
    // an auditor re-running decide on the replayed log gets every decision byte for byte
    const replay = replayShutdownDecisions(r.log)
    expect(replay.divergences).toEqual([])
    expect(replay.commands).toBe(r.types('shutdown.command-issued').length)
  })

  it('step 8 checkpoints the positions, live orders, balances, strategy state and config as of the seq it names, verified on disk', async () => {
    const strategies = { disableAll: () => ['mm'], reduceLimits: () => ({}), checkpointState: () => ({ mm: { enabled: false, inventory: 3 } }) }
    const r = rig({
      options: { graceful: { flatten: 'none', cancelOnlyAggressive: true, settleMs: 20 } },
      ports: { strategies, config: { venues: ['alpha', 'bravo', 'charlie'], admin: { token: '[redacted]' } } },
    })
    await r.rest(1, ['alpha']) // a passive buy far below the mid: kept
    await r.take('bravo', -2) // kept: flatten none
    await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

    const written = dataOf<{ path: string; atSeq: number; verified: boolean; checksum: string }>(r.events().find((e) => e.type === 'checkpoint.written')!)
    expect(written.verified).toBe(true)
    const verdict = verifyCheckpoint(written.path)
    if (!verdict.ok) throw new Error(verdict.problem)
    expect(verdict.checksum).toBe(written.checksum)
    const { content } = verdict
    // what the log says at that seq, rebuilt by replay: the checkpoint holds the same
    const then = worldOf(replayLog(r.log, { until: written.atSeq, fromSnapshot: false }).state)
    expect(content.positions).toEqual(then.positions.map((p) => ({ venue: p.venue, symbol: p.symbol, qty: p.qty, avgEntry: p.avgEntry })))
    expect(content.positions).toMatchObject([{ venue: 'bravo', qty: -2 }])
    expect(content.orders).toEqual(then.orders)
    expect(content.orders).toMatchObject([{ venue: 'alpha', side: 'buy', status: 'open' }])
    expect(Object.keys(content.balances).sort()).toEqual(['alpha', 'bravo', 'charlie'])
    expect(content.balances).toEqual(then.balances)
    expect(content.strategies).toEqual({ mm: { enabled: false, inventory: 3 } })
    expect(content.config).toEqual({ venues: ['alpha', 'bravo', 'charlie'], admin: { token: '[redacted]' } })
  })

  it('refuses every strategy order once step 4 has run, while its own reduce-only flatten passes', async () => {
    const r = rig({ options: { graceful: { flatten: 'aggressive', settleMs: 50 } } })
    await r.take('alpha', 1)
    const done = r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done
    await done
    const late = await r.router.submit({
      venue: 'alpha',
      symbol: SYMBOL,
      side: 'buy',
      type: 'limit',
      qty: 1,
      price: 90,
      origin: { kind: 'strategy', id: 'mm' },
    })
    expect(late.status).toBe('refused')
    expect(r.world().positions).toEqual([])
  })

  it('orders stuck in cancel are recorded cancel-unconfirmed, asked about again, reported, and never taken for canceled (exit 2)', async () => {
    const r = rig({
      capabilities: { bravo: { massCancel: 'none', batchCancel: 0 } },
      options: {
        graceful: { settleMs: 20, maxCancelRounds: 2, waitTimeoutMs: 150, budgets: { 'cancel orders and flatten': 600, 'wait for order completion': 300 } },
      },
    })
    await r.rest(2)
    r.sim('bravo').faults.set({ hang: ['cancel', 'fetchOrder', 'cancelAll'] })
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'admin' }).done

    expect(report.outcome).toBe('residual-exposure')
    expect(report.exitCode).toBe(2)
    expect(report.cancelUnconfirmed.map((o) => o.venue)).toEqual(['bravo', 'bravo'])
    const canceledOnBravo = r.events().filter((e) => e.type === 'order.canceled' && dataOf<{ venue: string }>(e).venue === 'bravo')
    expect(canceledOnBravo).toEqual([])
    // step 6 asked again about each unconfirmed cancel every round until its wait timeout was spent
    // (waits of 20, 40, 80, 10 ms): settled by observation, which finds them still listed at the
    // venue and cancels them again, or, for one whose last cancel is still out, cancelled again
    const step6 = r.events().filter((e) => e.type === 'shutdown.command-issued' && dataOf<{ step: number }>(e).step === 6)
    const rounds = step6
      .map((e) => dataOf<{ command: { kind: string } }>(e).command.kind)
      .join(' ')
      .split(' await-orders')
      .map((round) => round.trim())
    expect(rounds.pop()).toBe('')
    expect(rounds).toHaveLength(4)
    for (const round of rounds) expect(['settle-orders', 'settle-orders cancel-order', 'cancel-order cancel-order']).toContain(round)
    expect(stepTimeline(r)).toContain('timed-out 6')
    expect(unendedSteps(r)).toEqual([])
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('a position that cannot be flattened (every order rejected) ends as residual exposure in the report', async () => {
    const r = rig({ options: { graceful: { flatten: 'conservative', settleMs: 20, maxFlattenRounds: 2 } } })
    await r.take('charlie', 3)
    r.log.append({ type: 'market.mark', data: { venue: 'charlie', symbol: SYMBOL, price: 100 } })
    r.sim('charlie').faults.set({ rejectRate: 1 })
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done
    expect(report.outcome).toBe('residual-exposure')
    expect(report.residualExposure).toMatchObject([{ venue: 'charlie', symbol: SYMBOL, qty: 3 }])
    const step5 = r.events().filter((e) => e.type === 'shutdown.command-issued' && dataOf<{ step: number }>(e).step === 5)
    // every venue is asked what it holds first; conservative: limit IOC at mid, then market for the rest
    expect(step5.map((e) => dataOf<{ command: { kind: string; type?: string } }>(e).command).map((c) => c.type ?? c.kind)).toEqual([
      'observe-venue',
      'observe-venue',
      'observe-venue',
      'limit',
      'market',
    ])
  })

  it('fills that race the cancels are flattened too: sizes come from the projections after the cancels settle', async () => {
    const r = rig({ options: { graceful: { flatten: 'aggressive', settleMs: 200 } }, faults: { alpha: { fillRacesCancel: 1 } } })
    await r.rest(2, ['alpha'])
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done
    const fills = r.events().filter((e) => e.type === 'order.filled')
    expect(fills.length).toBeGreaterThan(0)
    expect(report.outcome).toBe('clean')
    expect(r.world().positions).toEqual([])
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('a flatten fill recorded after a positions report that already held it: the next round asks the venue again and sends nothing the wrong way', async () => {
    // given a venue whose fills of haltd's reduce-only orders reach haltd only after a positions
    // report taken once the venue had filled them (a fill polled late, a report read early)
    let log: Rig['log'] | undefined
    const flattening = new Set<string>()
    const lateFills = (sim: SimExchange): ExchangeGateway =>
      new Proxy(sim, {
        get(target, key) {
          if (key === 'submit')
            return async (request: Parameters<SimExchange['submit']>[0]) => {
              if (!request.reduceOnly) return target.submit(request)
              flattening.add(request.clientOrderId)
              // its answer says only that the venue took it: the fill comes on its own, late
              const { fills: _, ...ack } = await target.submit(request)
              return { ...ack, status: 'open' as const, filled: 0 }
            }
          if (key === 'onUpdate')
            return (handler: Parameters<SimExchange['onUpdate']>[0]) =>
              target.onUpdate((update) => {
                if (update.kind !== 'fill' || !flattening.has(update.clientOrderId)) return handler(update)
                setTimeout(() => {
                  void observeVenue(log!, target, { positions: true }).then(
                    () => handler(update),
                    () => handler(update),
                  )
                }, 20)
              })
          const value = Reflect.get(target, key, target)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
    const r = rig({ venues: ['alpha'], gateways: { alpha: lateFills }, options: { graceful: { flatten: 'aggressive', settleMs: 20 } } })
    log = r.log
    await r.take('alpha', 3)

    // when haltd shuts down gracefully, flattening
    const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

    // then one sell closes the long, and no buy follows it
    const flattenOrders = r
      .events()
      .filter((e) => e.type === 'order.submitted' && dataOf<{ origin: { kind: string } }>(e).origin.kind === 'shutdown')
      .map((e) => dataOf<{ side: string; qty: number }>(e))
    expect(flattenOrders.map((o) => [o.side, o.qty])).toEqual([['sell', 3]])
    expect(r.world().positions).toEqual([])
    expect(report.outcome).toBe('clean')
    expect(auditLog(r.log).findings.filter((f) => f.kind.startsWith('invariant.'))).toEqual([])
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('writes the checkpoint to the fallback location when the primary is unwritable, and records how to rebuild from the log when both are', async () => {
    const blocker = join(rig().dir, 'not-a-dir')
    writeFileSync(blocker, 'a file where a directory should be')
    const fallbackOnly = rig({ checkpoint: { primary: join(blocker, 'checkpoint.json') } })
    const ok = await fallbackOnly.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done
    expect(ok.checkpoint).toMatchObject({ outcome: 'ok', fallback: true })
    const written = fallbackOnly.events().find((e) => e.type === 'checkpoint.written')!
    expect(written.data).toMatchObject({ fallback: true, verified: true })
    expect(ok.outcome).toBe('clean')

    const neither = rig({ checkpoint: { primary: join(blocker, 'a.json'), fallback: join(blocker, 'b.json') } })
    const bad = await neither.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done
    const failed = neither.events().find((e) => e.type === 'checkpoint.failed')!
    expect(dataOf<{ recovery: string }>(failed).recovery).toMatch(/haltd replay --db .*events\.db --until \d+ --json/)
    expect(bad).toMatchObject({ outcome: 'failed', exitCode: 1 })
    expect(stepTimeline(neither)).toEqual(expect.arrayContaining(['failed 8', 'completed 13']))
  })

  it('a read-only checkpoint directory (chmod) falls back as well', async () => {
    if (process.getuid?.() === 0) return // root writes through any mode bits: nothing to test here
    const r = rig()
    const dir = join(r.dir, 'ro')
    mkdirSync(dir)
    chmodSync(dir, 0o500)
    const s = rig({ checkpoint: { primary: join(dir, 'checkpoint.json') } })
    const report = await s.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done
    chmodSync(dir, 0o700)
    expect(report.checkpoint).toMatchObject({ fallback: true })
  })
})

describe('emergency shutdown on three simulated venues', () => {
  it('closes the gate before the request returns, latches the kill switch, arms the dead man’s switch and cancels everything everywhere', async () => {
    const r = rig({ capabilities: { charlie: { massCancel: 'none', batchCancel: 0, deadMansSwitch: 'none' } } })
    await r.rest(6)
    const handle = r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' })
    // synchronously, before anything awaited: the gate refuses a strategy order
    expect(r.gate.halted).toBe(true)
    expect(r.router.refusal({ venue: 'alpha', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: 90, origin: { kind: 'strategy' } })).toMatch(/halted/)
    const report = await handle.done

    expect(report).toMatchObject({ outcome: 'emergency', exitCode: 3, openOrders: { count: 0 } })
    expect(r.projections.state.trading.killSwitch).toMatchObject({ latched: true, action: 'EMERGENCY' })
    expect(r.types('venue.dead-mans-switch-armed')).toHaveLength(2)
    // arm went out ahead of the cancels on the same venue
    const seqOf = (t: string, venue: string) => r.events().find((e) => e.type === t && dataOf<{ venue: string }>(e).venue === venue)?.seq ?? Infinity
    expect(seqOf('venue.dead-mans-switch-armed', 'alpha')).toBeLessThan(Infinity)
    const issued = r
      .events()
      .filter((e) => e.type === 'shutdown.command-issued')
      .map((e) => dataOf<{ command: { kind: string } }>(e).command.kind)
    expect(issued.indexOf('arm-dead-mans-switch')).toBeLessThan(issued.indexOf('cancel-all'))
    expect(r.types('order.canceled')).toHaveLength(18)
    expect(r.events().some((e) => e.type === 'checkpoint.written' && dataOf<{ verified: boolean }>(e).verified === false)).toBe(true)
    expect(unendedSteps(r)).toEqual([])
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('asks every venue what is left once the cancels are answered, so its report reconciles against the venues as they are after it', async () => {
    const r = rig()
    await r.rest(2)
    await r.take('alpha', 2)
    await r.take('bravo', -1)
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    const cancelAllIds = new Set(
      r
        .events()
        .filter((e) => e.type === 'shutdown.command-issued' && dataOf<{ command: { kind: string } }>(e).command.kind === 'cancel-all')
        .map((e) => dataOf<{ commandId: string }>(e).commandId),
    )
    const lastCancelAnswered = r
      .events()
      .findLast((e) => e.type === 'shutdown.command-completed' && cancelAllIds.has(dataOf<{ commandId: string }>(e).commandId))!.seq
    const stepEnded = r.events().find((e) => e.type === 'shutdown.step-completed' && dataOf<{ name: string }>(e).name === 'cancel all orders')!.seq
    const observed = r.events().filter((e) => e.type === 'venue.positions-observed' || e.type === 'venue.open-orders-observed')
    expect(observed.map((e) => `${e.type} ${dataOf<{ venue: string }>(e).venue}`).sort()).toEqual(
      ['alpha', 'bravo', 'charlie'].flatMap((v) => [`venue.open-orders-observed ${v}`, `venue.positions-observed ${v}`]).sort(),
    )
    // after every venue answered its cancel-all, within the cancel step
    expect(observed.every((e) => e.seq > lastCancelAnswered && e.seq < stepEnded)).toBe(true)
    // the emergency keeps its positions; the venues confirm them and show nothing left open
    expect(report.positions.map((p) => `${p.venue} ${p.qty}`)).toEqual(['alpha 2', 'bravo -1'])
    expect(report.reconciliation).toMatchObject({ ok: true, problems: [] })
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it("waits for the venues' word on what is left only a short while: a venue that cancels but does not list its orders costs 2 s, not the cancel budget", async () => {
    const r = rig()
    await r.rest(2)
    r.sim('alpha').faults.set({ hang: ['fetchOpenOrders'] })
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    expect(report.openOrders.count).toBe(0)
    const step = r.events().find((e) => e.type === 'shutdown.step-completed' && dataOf<{ name: string }>(e).name === 'cancel all orders')
    expect(step?.data).toMatchObject({ detail: { remaining: 0, unobserved: ['alpha'] } })
    const observeAlpha = r
      .events()
      .filter(
        (e) =>
          e.type === 'shutdown.command-issued' &&
          dataOf<{ command: { kind: string; venue?: string } }>(e).command.kind === 'observe-venue' &&
          dataOf<{ command: { venue?: string } }>(e).command.venue === 'alpha',
      )
    const outcome = r
      .events()
      .find(
        (e) =>
          e.type === 'shutdown.command-completed' && dataOf<{ commandId: string }>(e).commandId === dataOf<{ commandId: string }>(observeAlpha[0]!).commandId,
      )
    expect(outcome?.data).toMatchObject({ outcome: 'timed-out', detail: { error: 'alpha did not answer within 2000 ms' } })
    expect(r.types('checkpoint.written')).toHaveLength(1)
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('does not ask when told not to, and a shutdown recorded before the option existed replays without asking', async () => {
    // absent from a stored shutdown.requested means the behaviour that log was written with
    expect(parseShutdownOptions({ emergency: {} }).emergency.observeAfterCancels).toBe(false)
    const r = rig({ options: { emergency: { observeAfterCancels: false } } })
    await r.rest(2)
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done
    expect(report.openOrders.count).toBe(0)
    expect(r.types('venue.open-orders-observed')).toEqual([])
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('ends within its deadline when one venue never answers, recording that venue’s orders cancel-unconfirmed', async () => {
    const deadlineMs = 2_000
    const r = rig({ options: { emergency: { deadlineMs } } })
    await r.rest(3)
    r.sim('bravo').faults.set({ hang: true })
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    expect(report.outcome).toBe('emergency')
    expect(report.cancelUnconfirmed).toHaveLength(3)
    expect(report.cancelUnconfirmed.every((o) => o.venue === 'bravo')).toBe(true)
    expect(r.world().orders.filter((o) => o.venue !== 'bravo')).toEqual([])
    // the durations come from the log's own timestamps; the bound is the configured deadline
    // plus a wide allowance for a loaded machine, since only the runner's timers enforce it
    expect(completedOf(r)!.durationMs).toBeLessThanOrEqual(deadlineMs + 1_000)
    const timedOut = r.events().filter((e) => e.type === 'shutdown.command-completed' && dataOf<{ outcome: string }>(e).outcome === 'timed-out')
    // bravo's arm runs out the step; its cancel-all gives up on the venue's answer at half of it and
    // tries each order by its ids in what is left, which ends failed (nothing confirmed), not timed out
    expect(timedOut.map((e) => dataOf<{ commandId: string }>(e).commandId)).toEqual(['sd-1:emergency.3:2'])
    const cancelAll = r.events().find((e) => e.type === 'shutdown.command-completed' && dataOf<{ commandId: string }>(e).commandId === 'sd-1:emergency.3:5')
    expect(cancelAll?.data).toMatchObject({
      outcome: 'failed',
      detail: { method: 'per-order after cancel-all failed', error: expect.stringMatching(/^cancel-all failed: bravo's cancel-all had no answer within/) },
    })
    // closing a hung connection does not wait for it: the last phase ends normally
    expect(stepTimeline(r)).toEqual([
      'started 1',
      'completed 1',
      'started 2',
      'completed 2',
      'started 3',
      'timed-out 3',
      'started 4',
      'completed 4',
      'started 5',
      'completed 5',
    ])
    // the budget went to the hung venue: no time is spent asking the others what is left
    expect(r.types('venue.open-orders-observed')).toEqual([])
  })

  it('makes one cancel-all round per venue and records every order the venue did not confirm canceled as cancel-unconfirmed, never dropping it', async () => {
    // bravo cancels order by order and refuses each cancel ("order is being matched")
    const refusing = (sim: SimExchange): ExchangeGateway =>
      new Proxy(sim, {
        get: (target, key) => {
          if (key === 'cancel')
            return async (ref: { clientOrderId: string }) => ({ clientOrderId: ref.clientOrderId, outcome: 'rejected', reason: 'order is being matched' })
          const v = Reflect.get(target, key, target) as unknown
          return typeof v === 'function' ? v.bind(target) : v
        },
      })
    // (the round alone: no settling by observation after it, which settle.test.ts covers)
    const r = rig({
      capabilities: { bravo: { massCancel: 'none', batchCancel: 0 } },
      gateways: { bravo: refusing },
      options: { emergency: { settleByObservation: false } },
    })
    await r.rest(2)
    const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

    expect(report.outcome).toBe('emergency')
    expect(r.types('order.cancel-rejected')).toHaveLength(2)
    expect(report.cancelUnconfirmed.map((o) => o.venue)).toEqual(['bravo', 'bravo'])
    expect(r.world().orders.map((o) => `${o.venue} ${o.status}`)).toEqual(['bravo cancel-unconfirmed', 'bravo cancel-unconfirmed'])
    // one round, no re-check: the cancel-all on bravo ended failed with the count it left unconfirmed
    const issued = r
      .events()
      .find(
        (e) =>
          e.type === 'shutdown.command-issued' &&
          dataOf<{ command: { kind: string; venue?: string } }>(e).command.kind === 'cancel-all' &&
          dataOf<{ command: { venue?: string } }>(e).command.venue === 'bravo',
      )!
    const bravoCancel = r
      .events()
      .find((e) => e.type === 'shutdown.command-completed' && dataOf<{ commandId: string }>(e).commandId === dataOf<{ commandId: string }>(issued).commandId)
    expect(bravoCancel?.data).toMatchObject({ outcome: 'failed', detail: { method: 'per-order', rejected: 2, unconfirmed: 2 } })
    expect(report.steps.find((s) => s.name === 'cancel all orders')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('2 order(s) not confirmed canceled'),
    })
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  describe('cancel scope', () => {
    /** An order the engine placed at alpha without haltd: not in the log, not haltd's. */
    const foreignAtAlpha = (r: Rig) =>
      r
        .sim('alpha')
        .submit({ clientOrderId: 'engine-7', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 1, price: MID * 0.8, timeInForce: 'GTC', reduceOnly: false })
    const cancelAllAt = (r: Rig, venue: string) => {
      const issued = r
        .events()
        .find(
          (e) =>
            e.type === 'shutdown.command-issued' &&
            dataOf<{ command: { kind: string; venue?: string } }>(e).command.kind === 'cancel-all' &&
            dataOf<{ command: { venue?: string } }>(e).command.venue === venue,
        )!
      return r
        .events()
        .find((e) => e.type === 'shutdown.command-completed' && dataOf<{ commandId: string }>(e).commandId === dataOf<{ commandId: string }>(issued).commandId)!
        .data
    }

    it("own (the default) cancels only haltd's orders, never by the venue's mass cancel, and leaves the engine's own order", async () => {
      const r = rig()
      await r.rest(4)
      await foreignAtAlpha(r)
      const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

      expect(report.openOrders.count).toBe(0)
      expect(cancelAllAt(r, 'alpha')).toMatchObject({ outcome: 'ok', detail: { scope: 'own', method: 'batched' } })
      expect(r.sim('alpha').openOrderCount).toBe(1)
      expect(
        r
          .events()
          .filter((e) => e.type === 'venue.cancel-all-requested')
          .map((e) => dataOf<{ scope: string }>(e).scope),
      ).toEqual(['own', 'own', 'own'])
    })

    it("account in a graceful shutdown clears every venue's account, one where haltd has no order of its own too, and one without a mass cancel", async () => {
      const r = rig({ options: { graceful: { cancelScope: 'account', settleMs: 20 } }, capabilities: { charlie: { massCancel: 'none', batchCancel: 0 } } })
      await r.rest(2, ['bravo', 'charlie'])
      await foreignAtAlpha(r)
      await r
        .sim('charlie')
        .submit({ clientOrderId: 'engine-8', symbol: SYMBOL, side: 'sell', type: 'limit', qty: 1, price: MID * 1.2, timeInForce: 'GTC', reduceOnly: false })
      const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'end of day', origin: 'signal' }).done

      expect(report).toMatchObject({ outcome: 'clean', openOrders: { count: 0 } })
      expect(r.sims.map((s) => `${s.venue} ${s.openOrderCount}`)).toEqual(['alpha 0', 'bravo 0', 'charlie 0'])
      expect(
        r
          .events()
          .filter((e) => e.type === 'venue.cancel-all-requested')
          .map((e) => `${dataOf<{ venue: string }>(e).venue} ${dataOf<{ scope: string }>(e).scope}`),
      ).toEqual(['alpha account', 'bravo account', 'charlie account'])
      expect(replayShutdownDecisions(r.log).divergences).toEqual([])
    })

    it('account with no venue at all has nothing to sweep and shuts down clean', async () => {
      const r = rig({ venues: [], options: { graceful: { cancelScope: 'account' } } })
      const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'end of day', origin: 'signal' }).done
      expect(report.outcome).toBe('clean')
      expect(r.types('venue.cancel-all-requested')).toEqual([])
      expect(replayShutdownDecisions(r.log).divergences).toEqual([])
    })

    it("account uses each venue's mass cancel, which takes everything on the account, and replays to the same decisions", async () => {
      const r = rig({ options: { emergency: { cancelScope: 'account' } } })
      await r.rest(4)
      await foreignAtAlpha(r)
      const report = await r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' }).done

      expect(report.openOrders.count).toBe(0)
      expect(cancelAllAt(r, 'alpha')).toMatchObject({ outcome: 'ok', detail: { scope: 'account', method: 'mass-cancel', canceled: 5 } })
      expect(r.sim('alpha').openOrderCount).toBe(0)
      // the venue's stream tells of each cancel as it happens, often before the mass cancel's answer
      expect(
        new Set(
          r
            .events()
            .filter((e) => e.type === 'order.canceled')
            .map((e) => dataOf<{ confirmedBy: string }>(e).confirmedBy),
        ),
      ).toSatisfy((by: Set<string>) => [...by].every((b) => b === 'mass-cancel' || b === 'stream'))
      expect(
        r
          .events()
          .filter((e) => e.type === 'venue.cancel-all-requested')
          .map((e) => dataOf<{ scope: string }>(e).scope),
      ).toEqual(['account', 'account', 'account'])
      expect(replayShutdownDecisions(r.log).divergences).toEqual([])
    })
  })

  it('an emergency request during a graceful shutdown escalates at once; a second graceful request is logged and ignored', async () => {
    const r = rig({ options: { graceful: { settleMs: 20 } }, faults: { alpha: { latency: 150 } } })
    await r.rest(2)
    const first = r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM', origin: 'signal' })
    const again = r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM again', origin: 'signal' })
    expect(again).toMatchObject({ shutdownId: first.shutdownId, status: 'ignored' })
    await new Promise((resolve) => setTimeout(resolve, 20))
    const escalate = r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' })
    expect(escalate.status).toBe('escalated')
    expect(r.gate.halted).toBe(true)
    const report = await first.done

    expect(report).toMatchObject({ outcome: 'emergency', exitCode: 3, escalated: true, ignoredRequests: 1 })
    expect(r.types('shutdown.request-ignored')).toHaveLength(1)
    expect(r.types('shutdown.escalated')).toHaveLength(1)
    expect(report.steps.filter((s) => s.procedure === 'emergency').map((s) => s.name)).toEqual([
      'halt',
      'latch kill switch',
      'cancel all orders',
      'quick checkpoint',
      'stop',
    ])
    expect(report.steps.find((s) => s.procedure === 'graceful' && s.status === 'failed')?.error).toBe('escalated to emergency: SIGUSR2')
    expect(unendedSteps(r)).toEqual([])
    expect(r.world().orders).toEqual([])
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('a flood of requests during an emergency records the first of each kind as it comes and the rest together with their count, before the shutdown completes, and the audit re-decides them clean', async () => {
    const r = rig({ faults: { alpha: { latency: 150 } } })
    await r.rest(2)
    const first = r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2', origin: 'signal' })
    for (let i = 0; i < 40; i++) {
      expect(r.controller.requestShutdown({ mode: 'graceful', reason: 'SIGTERM during emergency', origin: 'signal' }).status).toBe('ignored')
      r.controller.requestShutdown({ mode: 'emergency', reason: 'SIGUSR2 during emergency', origin: 'signal' })
    }
    const report = await first.done

    const ignored = r
      .events()
      .filter((e) => e.type === 'shutdown.request-ignored')
      .map((e) => ({ seq: e.seq, ...dataOf<{ mode: string; reason: string; count?: number }>(e) }))
    // each kind: one event as it came, then one with the 39 counted after it
    expect(ignored.map((e) => [e.reason, e.count])).toEqual([
      ['SIGTERM during emergency', undefined],
      ['SIGUSR2 during emergency', undefined],
      ['SIGTERM during emergency', 39],
      ['SIGUSR2 during emergency', 39],
    ])
    const completed = r.events().find((e) => e.type === 'shutdown.completed')!
    expect(ignored.every((e) => e.seq < completed.seq)).toBe(true)
    expect(report.ignoredRequests).toBe(80)
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('a risk trigger with action EMERGENCY starts the emergency path and does not latch the switch twice', async () => {
    const r = rig()
    await r.rest(1)
    r.log.append({ type: 'killswitch.activated', data: { reason: 'drawdown 6% > 5%', origin: 'risk', trigger: 'drawdown', action: 'EMERGENCY' } })
    const report = await emergencyFromRisk(r.controller)('kill switch: drawdown')
    expect(report).toMatchObject({ outcome: 'emergency', origin: 'risk' })
    expect(r.types('killswitch.activated')).toHaveLength(1)
    expect(stepTimeline(r)).toContain('skipped 2')
  })
})

describe('the final health check (step 12)', () => {
  const listening = async (): Promise<{ server: Server; port: number; accepted: Promise<Socket> }> => {
    let accept!: (s: Socket) => void
    const accepted = new Promise<Socket>((resolve) => (accept = resolve))
    const server = createServer((s) => accept(s))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return { server, port: (server.address() as AddressInfo).port, accepted }
  }
  const healthDetail = (r: Rig) => {
    const issued = r.events().find((e) => e.type === 'shutdown.command-issued' && dataOf<{ command: { kind: string } }>(e).command.kind === 'health-check')!
    const id = dataOf<{ commandId: string }>(issued).commandId
    return r.events().find((e) => e.type === 'shutdown.command-completed' && dataOf<{ commandId: string }>(e).commandId === id)!.data as {
      outcome: string
      detail: Record<string, unknown>
    }
  }

  it('fails on a connection this process opened that is still open after the venues closed, names it, and the shutdown ends failed (exit 1)', async () => {
    const { server, port, accepted } = await listening()
    const leaked = connect(port, '127.0.0.1')
    try {
      await accepted
      const r = rig({ options: { graceful: { budgets: { 'health check': 400 } } } })
      const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

      expect(report).toMatchObject({ outcome: 'failed', exitCode: 1 })
      const step12 = report.steps.find((s) => s.step === 12)!
      expect(step12.status).toBe('failed')
      expect(step12.error).toContain(`outbound socket(s) still open after the venues and services closed: 127.0.0.1:${leaked.localPort} -> 127.0.0.1:${port}`)
      expect(healthDetail(r)).toMatchObject({ outcome: 'failed', detail: { checkpointValid: true, logFlushed: true } })
    } finally {
      leaked.destroy()
      server.close()
    }
  })

  /** A graceful shutdown whose health check fails (a connection left open) while a venue that never answers its cancels keeps two orders live. */
  async function failingWithOrdersLive(recorded: { exposureOutranksFailure?: boolean } = {}) {
    const { server, port, accepted } = await listening()
    const leaked = connect(port, '127.0.0.1')
    try {
      await accepted
      const r = rig({
        venues: ['alpha'],
        options: {
          graceful: { settleMs: 10, budgets: { 'cancel orders and flatten': 1_500, 'wait for order completion': 1_000, 'health check': 400 }, ...recorded },
        },
      })
      await r.rest(2)
      r.sim('alpha').faults.set({ hang: ['cancel', 'cancelAll'] })
      const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done
      return { r, report }
    } finally {
      leaked.destroy()
      server.close()
    }
  }

  it('given orders a venue never cancelled, a failed health check too ends the shutdown with residual exposure (exit 2), so no supervisor restarts haltd into trading', async () => {
    const { r, report } = await failingWithOrdersLive()
    expect(report.steps.find((s) => s.step === 12)?.status).toBe('failed')
    expect(report.openOrders.count).toBe(2)
    expect(report).toMatchObject({ outcome: 'residual-exposure', exitCode: 2 })
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('a shutdown recorded before that rule (no exposureOutranksFailure in its options) ends failed as it did, and replays so', async () => {
    const { r, report } = await failingWithOrdersLive({ exposureOutranksFailure: false })
    expect(report.openOrders.count).toBe(2)
    expect(report).toMatchObject({ outcome: 'failed', exitCode: 1 })
    expect(replayShutdownDecisions(r.log).divergences).toEqual([])
  })

  it('passes with monitoring clients connected to a server of this process and sockets the host keeps, and reports both', async () => {
    const { server, port, accepted } = await listening()
    // a monitoring client in another process: an inbound connection here
    const client = spawn(process.execPath, ['-e', `require('node:net').connect(${port}, '127.0.0.1'); setTimeout(() => {}, 60000)`], { stdio: 'ignore' })
    const { server: db, port: dbPort, accepted: dbAccepted } = await listening()
    const hostDb = connect(dbPort, '127.0.0.1')
    try {
      await accepted
      await dbAccepted
      const r = rig({ ports: { keepsSocket: (s) => s.remote === `127.0.0.1:${dbPort}` } })
      const report = await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done

      expect(report).toMatchObject({ outcome: 'clean', exitCode: 0 })
      const { outcome, detail } = healthDetail(r)
      expect(outcome).toBe('ok')
      expect(detail.sockets).toMatchObject({ leaked: [], kept: 1, servers: expect.arrayContaining([`127.0.0.1:${port}`, `127.0.0.1:${dbPort}`]) })
      // the monitoring client's socket and the host's database socket, seen from their servers' side
      expect((detail.sockets as { inbound: number }).inbound).toBeGreaterThanOrEqual(2)
    } finally {
      client.kill()
      hostDb.destroy()
      server.close()
      db.close()
    }
  })
})

describe('crash in the middle of a shutdown', () => {
  it('comes back halted and finishes the unfinished shutdown from the step it was in', async () => {
    const first = rig({ faults: { bravo: { hang: ['cancelAll'] } }, options: { graceful: { flatten: 'aggressive', settleMs: 20 } } })
    await first.rest(2)
    await first.take('alpha', 1)
    const handle = first.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' })
    handle.done.catch(() => {}) // its process "dies": the log closes under it
    await new Promise<void>((resolve) => {
      const off = first.log.on('event', (e) => {
        if (e.type === 'shutdown.command-issued' && dataOf<{ step: number }>(e).step === 5) {
          off()
          resolve()
        }
      })
    })
    const path = first.log.path
    first.crash()
    first.sim('bravo').faults.clear()

    const second = rig({ path, sims: first.sims, options: { graceful: { flatten: 'aggressive', settleMs: 20 } } })
    const point = findUnfinishedShutdown(second.log)
    expect(point).toMatchObject({ shutdownId: handle.shutdownId, procedure: 'graceful', nextStep: { step: 5 }, afterGateClosed: true })
    const resumed = second.controller.resumeUnfinished()!
    expect(second.gate.halted).toBe(true)
    const report = await resumed.done

    expect(report.outcome).toBe('clean')
    expect(second.world().orders).toEqual([])
    expect(second.world().positions).toEqual([])
    const step5 = report.steps.filter((s) => s.step === 5)
    expect(step5.map((s) => s.status)).toEqual(['failed', 'completed'])
    expect(step5[0]!.error).toMatch(/^interrupted/)
    expect(unendedSteps(second)).toEqual([])
    expect(findUnfinishedShutdown(second.log)).toBeUndefined()
    expect(replayShutdownDecisions(second.log).divergences).toEqual([])
  })

  it('given a crash after the checkpoint was written, the resumed shutdown’s health check takes the checkpoint the log records, and ends clean', async () => {
    // given a graceful shutdown that dies once its checkpoint step (8) is done
    const first = rig({ options: { graceful: { flatten: 'aggressive', settleMs: 20 } } })
    await first.rest(1)
    const handle = first.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' })
    handle.done.catch(() => {})
    await new Promise<void>((resolve) => {
      const off = first.log.on('event', (e) => {
        if (e.type === 'shutdown.step-completed' && dataOf<{ step: number }>(e).step === 8) {
          off()
          resolve()
        }
      })
    })
    const path = first.log.path
    first.crash()

    // when another process resumes it, with a checkpointer that wrote nothing yet
    const second = rig({ path, sims: first.sims, options: { graceful: { flatten: 'aggressive', settleMs: 20 } } })
    expect(second.checkpointer.last).toBeUndefined()
    const report = await second.controller.resumeUnfinished()!.done

    // then step 12 finds the checkpoint the first process wrote and recorded, verified, and the stop is clean
    const step12 = report.steps.filter((s) => s.step === 12)
    expect(step12.map((s) => s.status)).toEqual(['completed'])
    expect(report.outcome).toBe('clean')
  })
})

describe('a shutdown over a log with power durability', () => {
  // each turn's appends are one fsync'd group, published when it commits: the runner decides on what it has folded
  for (const mode of ['graceful', 'emergency'] as const) {
    it(`runs the ${mode} procedure once through, each step once, and the audit re-derives every decision`, async () => {
      const r = rig({ durability: 'power', options: { graceful: { flatten: 'aggressive', settleMs: 20 } } })
      await r.rest(2)
      await r.take('alpha', 1)
      const report = await r.controller.requestShutdown({ mode, reason: 'SIGTERM', origin: 'signal' }).done
      expect(report.outcome).toBe(mode === 'graceful' ? 'clean' : 'emergency')
      await r.log.flush()
      const started = r
        .events()
        .filter((e) => e.type === 'shutdown.step-started')
        .map((e) => dataOf<{ step: number }>(e).step)
      expect(started).toEqual([...new Set(started)])
      expect(unendedSteps(r)).toEqual([])
      // each command had its own step's budget, and each order one fate
      expect(r.types('shutdown.step-failed')).toEqual([])
      expect(r.types('shutdown.step-timed-out')).toEqual([])
      const fates = new Map<string, string[]>()
      for (const e of r.events().filter((x) => x.type === 'order.canceled' || x.type === 'order.cancel-unconfirmed')) {
        const id = dataOf<{ clientOrderId: string }>(e).clientOrderId
        fates.set(id, [...(fates.get(id) ?? []), e.type])
      }
      for (const [id, f] of fates) expect([id, f]).toEqual([id, [f[0]]])
      expect(replayShutdownDecisions(r.log).divergences).toEqual([])
    })
  }
})
