import { describe, expect, it } from 'vitest'
import { evolve, initialState, type Fact } from '../../src/projections/index.js'
import { readFacts } from '../../src/core/log/projection-runner.js'
import { createDecisionReplay, type DecisionDivergence } from '../../src/audit/decision-replay.js'
import { rig } from './rig.js'

function audit(facts: Fact[]): DecisionDivergence[] {
  const replay = createDecisionReplay()
  const state = initialState()
  const out: DecisionDivergence[] = []
  for (const f of facts) {
    out.push(...replay.before(f, state))
    evolve(state, f)
  }
  return [...out, ...replay.finish()]
}

describe('decision replay for the audit', () => {
  it('finds nothing on an honest log, and flags a flatten whose size was altered, at its seq', async () => {
    const r = rig({ options: { graceful: { flatten: 'aggressive', settleMs: 20 } } })
    await r.rest(2)
    await r.take('alpha', 2)
    await r.controller.requestShutdown({ mode: 'graceful', reason: 'deploy', origin: 'signal' }).done
    const facts = [...readFacts(r.log)]
    expect(audit(facts)).toEqual([])

    const i = facts.findIndex((f) => f.type === 'shutdown.command-issued' && f.data.command.kind === 'flatten')
    const tampered = structuredClone(facts)
    const flatten = tampered[i]! as Extract<Fact, { type: 'shutdown.command-issued' }>
    flatten.data.command.qty = 5
    const found = audit(tampered)
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({
      seq: facts[i]!.seq,
      problem: 'the log has shutdown.command-issued where the replayed decision calls for shutdown.command-issued with other data',
    })
  })

  it('flags a command the state never called for, and one it called for that is missing', async () => {
    const r = rig()
    await r.rest(1, ['alpha'])
    await r.controller.requestShutdown({ mode: 'emergency', reason: 'x', origin: 'signal' }).done
    const facts = [...readFacts(r.log)]
    const i = facts.findIndex((f) => f.type === 'shutdown.command-issued' && f.data.command.kind === 'cancel-all')
    const dropped = facts.filter((_, k) => k !== i)
    expect(audit(dropped).map((d) => d.problem)).toContain(
      'the log has shutdown.command-issued where the replayed decision calls for shutdown.command-issued with other data',
    )
    const extra = structuredClone(facts)
    const last = extra.findLastIndex((f) => f.type === 'shutdown.command-issued')
    extra.splice(last + 1, 0, { ...extra[last]!, data: { ...(extra[last]!.data as object), commandId: 'sd-1:emergency.5:99' } } as Fact)
    expect(audit(extra).some((d) => d.problem === 'shutdown.command-issued was not called for by the replayed decision')).toBe(true)
  })
})
