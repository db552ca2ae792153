import { describe, expect, it } from 'vitest'
import { BackoffGate, GateRefusal, type Priority, type Ticket } from '../../src/exchanges/ccxt/backoff-gate.js'

const never = new AbortController().signal

/** A gate on a clock the test moves; its timers are real but short. */
function gateAt(baseMs = 20, maxMs = 80) {
  let now = 0
  const gate = new BackoffGate({ baseMs, maxMs }, () => now)
  return { gate, advance: (ms: number) => (now += ms), at: () => now }
}

describe('the backoff gate of one venue', () => {
  it('is open until the venue refuses: calls pass at once, none is a probe', async () => {
    const { gate } = gateAt()
    expect(await gate.pass(2, never)).toEqual({ probe: false })
    expect(gate.closedForMs).toBe(0)
  })

  it('after a refusal without Retry-After it closes for baseMs, then twice as long per refusal in a row, up to maxMs', () => {
    const { gate, advance } = gateAt(20, 50)
    const first: Ticket = { probe: false }
    gate.refused(first)
    expect(gate.closedForMs).toBe(20)
    advance(20)
    gate.refused({ probe: true })
    expect(gate.closedForMs).toBe(40)
    advance(40)
    gate.refused({ probe: true })
    expect(gate.closedForMs).toBe(50)
  })

  it('refusals of requests sent before it closed do not lengthen the wait; a Retry-After does, and wins over the doubling', () => {
    const { gate } = gateAt(20, 80)
    gate.refused({ probe: false })
    gate.refused({ probe: false })
    gate.refused({ probe: false })
    expect(gate.closedForMs).toBe(20)
    gate.refused({ probe: false }, 5_000)
    expect(gate.closedForMs).toBe(5_000)
  })

  it('when it reopens the mass cancel goes first, alone; once the venue answers it, the shutdown’s cancels go before the engine’s reads', async () => {
    const { gate, advance } = gateAt(20)
    gate.refused({ probe: false })
    const order: string[] = []
    const waiting = (name: string, priority: Priority) =>
      gate.pass(priority, never).then((t) => {
        order.push(name)
        return t
      })
    const read = waiting('read', 2)
    const cancel = waiting('cancel', 1)
    const massCancel = waiting('mass cancel', 0)
    advance(20)
    const probe = await massCancel
    expect(probe).toEqual({ probe: true })
    await new Promise((r) => setTimeout(r, 30))
    expect(order).toEqual(['mass cancel'])
    gate.settled(probe, 'answered')
    await Promise.all([read, cancel])
    expect(order).toEqual(['mass cancel', 'cancel', 'read'])
    expect(await gate.pass(2, never)).toEqual({ probe: false })
  })

  it('a probe refused again closes it for twice as long, and a waiter whose deadline comes first is refused at once', async () => {
    const { gate, advance, at } = gateAt(20)
    gate.refused({ probe: false })
    advance(20)
    const probe = await gate.pass(1, never)
    const patient = gate.pass(2, never, at() + 1_000)
    const hurried = gate.pass(2, never, at() + 30)
    gate.refused(probe)
    expect(gate.closedForMs).toBe(40)
    await expect(hurried).rejects.toMatchObject({ reason: 'too-late', waitMs: 40 })
    advance(40)
    expect(await patient).toEqual({ probe: true })
  })

  it('a call whose deadline would pass before it reopens is refused without waiting; one whose signal fires while waiting is let go', async () => {
    const { gate, at } = gateAt(20)
    gate.refused({ probe: false }, 10_000)
    await expect(gate.pass(0, never, at() + 5_000)).rejects.toBeInstanceOf(GateRefusal)
    const abort = new AbortController()
    const waiting = gate.pass(0, abort.signal)
    abort.abort()
    await expect(waiting).rejects.toMatchObject({ reason: 'aborted' })
  })

  it('a probe that got no answer (a timeout) leaves the next waiter to probe', async () => {
    const { gate, advance } = gateAt(20)
    gate.refused({ probe: false })
    advance(20)
    const probe = await gate.pass(0, never)
    const next = gate.pass(2, never)
    gate.settled(probe, 'no-answer')
    expect(await next).toEqual({ probe: true })
  })
})
