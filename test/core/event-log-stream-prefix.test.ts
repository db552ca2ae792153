import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/index.js'
import { findUnfinishedShutdown } from '../../src/core/shutdown/controller.js'
import { tempDb } from '../support/tmp.js'
import { mark } from '../support/events.js'

describe('reading every stream under a prefix', () => {
  it('given events in streams shutdown:a, shutdown:b, shutdownx and others, returns those of shutdown:* only, in seq order, with the type filter', () => {
    const log = openEventLog({ path: tempDb() })
    const at = (stream: string) => log.append({ ...mark(), stream }).seq
    const a1 = at('shutdown:a')
    at('prices')
    const b1 = at('shutdown:b')
    at('shutdownx')
    at('shutdown')
    const a2 = at('shutdown:a')
    at('shutdown;')
    expect([...log.read({ streamPrefix: 'shutdown:' })].map((e) => e.seq)).toEqual([a1, b1, a2])
    expect([...log.read({ streamPrefix: 'shutdown:', from: b1 })].map((e) => e.seq)).toEqual([b1, a2])
    expect([...log.read({ streamPrefix: 'shutdown:', types: ['order.submitted'] })]).toEqual([])
    log.close()
  })

  it('given one type asked of the streams under a prefix, returns its events there only, in seq order, across pages', () => {
    const log = openEventLog({ path: tempDb() })
    const requested: number[] = []
    for (let i = 0; i < 2_100; i++) {
      const stream = `shutdown:s${i % 7}`
      log.append({ ...mark(), stream })
      requested.push(log.append({ type: 'shutdown.requested', data: { shutdownId: `s-${i}`, mode: 'graceful', reason: 'test', origin: 'api' }, stream }).seq)
    }
    log.append({ type: 'shutdown.requested', data: { shutdownId: 'elsewhere', mode: 'graceful', reason: 'test', origin: 'api' }, stream: 'other' })
    const read = [...log.read({ streamPrefix: 'shutdown:', types: ['shutdown.requested'] })]
    expect(read.map((e) => e.seq)).toEqual(requested)
    expect(new Set(read.map((e) => e.type))).toEqual(new Set(['shutdown.requested']))
    // and from a seq on, as the other reads
    expect([...log.read({ streamPrefix: 'shutdown:', types: ['shutdown.requested'], from: requested[500]! })].map((e) => e.seq)).toEqual(requested.slice(500))
    log.close()
  })

  it('given a shutdown requested and never completed among other events, a restart still finds it unfinished', () => {
    const log = openEventLog({ path: tempDb() })
    log.append(mark())
    log.append({ type: 'shutdown.requested', data: { shutdownId: 's-1', mode: 'graceful', reason: 'test', origin: 'api' } })
    log.append(mark())
    expect(findUnfinishedShutdown(log)).toBeDefined()
    log.append({ type: 'shutdown.completed', data: { shutdownId: 's-1', outcome: 'clean', exitCode: 0, durationMs: 1 } })
    expect(findUnfinishedShutdown(log)).toBeUndefined()
    log.close()
  })
})
