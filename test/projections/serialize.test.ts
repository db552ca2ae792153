import { describe, expect, it } from 'vitest'
import type { EventInput } from '../../src/events/index.js'
import { deserializeState, serializeState, shutdowns, stateHash } from '../../src/projections/index.js'
import { ev, given, when } from './given.js'

const step = (detail: Record<string, unknown>): EventInput[] => [
  { type: 'shutdown.requested', data: { shutdownId: 's', mode: 'graceful', reason: 'r', origin: 'cli' } },
  { type: 'shutdown.step-started', data: { shutdownId: 's', step: 8, name: 'checkpoint' } },
  { type: 'shutdown.step-completed', data: { shutdownId: 's', step: 8, name: 'checkpoint', detail } },
]

describe('state serialization', () => {
  it('round-trips maps, nested maps, and free-form details with $-keys and __proto__ as plain data', () => {
    const detail = JSON.parse('{"$map":[["x",1]],"$$y":2,"__proto__":{"polluted":true},"10":"a","9":"b"}') as Record<string, unknown>
    const s = given(...step({ note: 'x' }), { type: 'venue.markets-observed', data: { venue: 'v', markets: [{ symbol: 'BTC/USDT', amountStep: 0.001 }] } })
    // put in place directly: schema validation already keeps __proto__ out of stored events
    s.shutdowns.get('s')!.steps[0]!.detail = detail
    const back = deserializeState(serializeState(s))
    expect(stateHash(back)).toBe(stateHash(s))
    expect(back.venues.get('v')!.markets).toBeInstanceOf(Map)
    const kept = shutdowns(back)[0]!.steps[0]!.detail!
    expect(Object.getPrototypeOf(kept)).toBe(Object.prototype)
    expect(Object.keys(kept).sort()).toEqual(['$$y', '$map', '10', '9', '__proto__'])
    expect(kept.$map).toEqual([['x', 1]])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('gives the same hash whatever order the maps were filled in', () => {
    const a = given(ev.submitted('x'), ev.submitted('y', { venue: 'sim-b' }))
    const b = given(ev.submitted('y', { venue: 'sim-b' }), ev.submitted('x'))
    // same facts, other seqs: align the seqs so only map order differs
    for (const o of b.orders.values()) o.submittedSeq = o.updatedSeq = o.venue === 'sim-b' ? 2 : 1
    for (const [venue, e] of b.venueEvidence) e.lastOrderSeq = venue === 'sim-b' ? 2 : 1
    for (const o of a.orders.values()) o.updatedTs = b.orders.get(`${o.venue}\u001f${o.clientOrderId}`)!.updatedTs = 0
    expect([...a.orders.keys()]).not.toEqual([...b.orders.keys()])
    expect(stateHash(a)).toBe(stateHash(b))
  })

  it('hashes a different state differently', () => {
    const a = given(ev.submitted('x'))
    const h = stateHash(a)
    when(a, ev.accepted('x'))
    expect(stateHash(a)).not.toBe(h)
  })
})
