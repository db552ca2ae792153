import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createHaltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

const sim = () =>
  new SimExchange({ venue: 'alpha-sim', seed: 4, mode: 'derivatives', symbols: [{ symbol: 'BTC/USDT:USDT', mid: 50_000, amountStep: 0.001, priceStep: 0.5 }] })

describe('a shutdown asked for once the shutdown has completed and haltd is stopping', { timeout: 60_000 }, () => {
  it('given an emergency that completed, when a SIGTERM or an API request arrives while haltd closes its parts, then no second shutdown starts: the request is refused and the log holds one shutdown', async () => {
    const db = join(tempDir(), 'stopping.db')
    const h = await createHaltd(
      { db: { path: db }, admin: { enabled: false }, signals: true },
      { gateways: [sim()], logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} },
    )
    // when the shutdown has completed, the moment haltd begins to close its parts
    const late = new Promise<unknown>((resolve) =>
      h.on('shutdown', () =>
        // run once haltd has begun to stop (right behind this event), before it is done
        queueMicrotask(() => {
          // a signal (its handler, as the process's delivery would run it) and an embedder's request
          process.emit('SIGTERM', 'SIGTERM')
          try {
            h.shutdown({ mode: 'graceful', reason: 'late request', origin: 'api' }).then(resolve, resolve)
          } catch (e) {
            resolve(e)
          }
        }),
      ),
    )
    await h.shutdown({ mode: 'emergency', reason: 'test', origin: 'api' })
    const refused = await late
    await h.exited

    // then the late request was refused, saying why, and no second shutdown is in the log
    expect(refused).toMatchObject({ code: 'STOPPED', message: 'haltd is stopping: its shutdown has completed' })
    const log = openEventLog({ path: db, readonly: true })
    try {
      expect([...log.read({ types: ['shutdown.requested'] })].map((e) => (e.data as { mode: string }).mode)).toEqual(['emergency'])
      const types = [...log.read({})].map((e) => e.type)
      // the run ended after its one shutdown, and nothing of a shutdown follows its end
      expect(types.at(-1)).toBe('run.ended')
    } finally {
      log.close()
    }
  })
})
