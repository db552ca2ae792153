import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { followAccount } from '../../src/core/execution/guardian.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import type { ExchangeGateway } from '../../src/exchanges/gateway.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { tempDir } from '../support/tmp.js'

/**
 * The guardian's pace: a look that outlasts `pollMs` (an account-wide list a venue answers slowly,
 * or makes wait in its rate limit) is not followed by another at once. The polls that come due
 * meanwhile are skipped, so the venue sees a look at most every `pollMs` after the last one ended,
 * not back to back.
 */

afterEach(() => {
  vi.useRealTimers()
})

describe('the guardian’s looks', () => {
  it('given a list that takes longer than pollMs, when it polls, then the polls due during a look are skipped, not queued behind it', async () => {
    vi.useFakeTimers()
    const log = openEventLog({ path: join(tempDir(), 'events.db') })
    const sim = new SimExchange({
      venue: 'sim',
      seed: 1,
      mode: 'derivatives',
      symbols: [{ symbol: 'BTC/USDT:USDT', mid: 100, amountStep: 0.001, priceStep: 0.01 }],
    })
    let lists = 0
    // every list of the account takes 300 ms; the guardian polls every 250 ms
    const slow = new Proxy(sim, {
      get: (target, key) =>
        key === 'fetchOpenOrders'
          ? async () => {
              lists++
              await new Promise((r) => setTimeout(r, 300))
              return []
            }
          : (Reflect.get(target, key, target) as unknown),
    }) as ExchangeGateway
    const guardian = followAccount({
      log,
      gateway: slow,
      pollMs: 250,
      onError: (e) => {
        throw e
      },
      orderOf: () => undefined,
      adoptedLive: () => [],
      markets: () => [],
    })
    guardian.start()
    await vi.advanceTimersByTimeAsync(3_000)
    guardian.stop()
    // looks at 0, then at the first tick after each ends (500, 1000, …): 6 or 7 in 3 s, where
    // looks queued back to back would have been 10
    expect(lists).toBeGreaterThanOrEqual(6)
    expect(lists).toBeLessThanOrEqual(7)
    log.close()
    await sim.close()
  })
})
