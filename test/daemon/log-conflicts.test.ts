import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/daemon/config.js'
import { createLogger } from '../../src/daemon/logger.js'
import { openLogWithProjections } from '../../src/daemon/open-log.js'
import { manualClock, sequentialIds } from '../../src/events/clock.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

function openLogged() {
  const dest = memoryDestination()
  const logger = createLogger({ destination: dest, level: 'debug' })
  const config = parseConfig({ db: { path: join(tempDir(), 'c.db') }, admin: { enabled: false } })
  const { log, runner } = openLogWithProjections(config, { clock: manualClock(1_000), ids: sequentialIds(), logger })
  const lines = () => dest.lines.map((l) => JSON.parse(l) as { level: number; msg: string; [k: string]: unknown })
  return { log, runner, lines }
}

describe('keys reused in the event log', () => {
  it('a cancel confirmed by the stream and then by the REST answer is logged at debug, not warn', () => {
    const { log, runner, lines } = openLogged()
    log.append({ type: 'order.canceled', data: { venue: 'okx-sim', clientOrderId: 'hd-1', confirmedBy: 'stream' } })
    log.append({ type: 'order.canceled', data: { venue: 'okx-sim', clientOrderId: 'hd-1', confirmedBy: 'ack' } })
    runner.stop()
    log.close()
    const conflicts = lines().filter((l) => l.key === 'order.canceled:okx-sim:hd-1')
    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]).toMatchObject({ level: 20, confirmedBy: 'stream', againBy: 'ack' })
    expect(lines().filter((l) => l.level >= 40)).toEqual([])
  })

  it('a fill whose trade id comes back with another quantity is still a warning', () => {
    const { log, runner, lines } = openLogged()
    const fill = { venue: 'okx-sim', clientOrderId: 'hd-2', tradeId: 't-1', price: 100 }
    log.append({ type: 'order.filled', data: { ...fill, qty: 1 } })
    log.append({ type: 'order.filled', data: { ...fill, qty: 2 } })
    runner.stop()
    log.close()
    const warned = lines().filter((l) => l.level === 40)
    expect(warned).toHaveLength(1)
    expect(warned[0]).toMatchObject({ key: 'fill:okx-sim:t-1', storedType: 'order.filled', offered: { qty: 2 } })
  })
})
