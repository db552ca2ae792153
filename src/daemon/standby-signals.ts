import type { ShutdownMode } from '../events/primitives.js'

export type StandbySignalPorts = {
  /** `standby` while it follows; `leader` from the moment it takes over, before the leading haltd is up. */
  role(): 'standby' | 'leader' | 'stopped'
  /** SIGTERM or SIGINT while it follows: stop following (called once). */
  stopFollowing(): void
  /** A signal arrived (for the log). */
  onSignal(signal: NodeJS.Signals, action: string): void
}

export type StandbySignals = {
  /**
   * The standby leads now: the handlers come off, and the stops asked for while it took over are
   * asked of the leading haltd in the order they came, recorded in its log as any signal's request is.
   */
  promoted(leader: { shutdown(request: { mode: ShutdownMode; reason: string; origin: 'signal' }): Promise<unknown> }): void
  /**
   * The stops kept so far where one is an emergency, taken once, all in the order they came: the
   * leading haltd asks them of itself as its own handlers go in, its gate closed before its startup
   * can trade (`HaltdPorts.takeover.stops`). A graceful stop alone is left to `promoted`: asked once
   * the leader leads, its shutdown runs over venues its startup reconciled.
   */
  take(): Kept[]
  /** The handlers come off; a stop kept for a leader that never came to lead is said, not asked. */
  off(): void
  /**
   * The lease it took went back before it led, and it follows again: a stop kept for the leader
   * is the operator's stop of this process still, so it stops following.
   */
  gaveBack(why: string): void
}

export type Kept = { signal: NodeJS.Signals; mode: ShutdownMode; reason: string }

const WHILE = 'while this standby took over the engine'

/**
 * What a signal during the takeover asks of the leader, given the strongest stop already kept: as
 * a leader's own handlers would (`signals.ts`), TERM or INT a graceful shutdown and, during one, an
 * escalation to emergency; USR2 an emergency; and during an emergency a request still made, so the
 * shutdown records it as received and ignored.
 */
export function keptRequest(signal: NodeJS.Signals, under: ShutdownMode | undefined): Kept & { action: string } {
  const emergency = signal === 'SIGUSR2'
  if (under === 'emergency')
    return {
      signal,
      mode: emergency ? 'emergency' : 'graceful',
      reason: `${signal} received ${WHILE}, during the emergency shutdown kept`,
      action: 'ignored: the emergency shutdown is kept already',
    }
  if (under === 'graceful')
    return {
      signal,
      mode: 'emergency',
      reason: emergency ? `${signal} received ${WHILE}, during the graceful shutdown kept` : `second ${signal} ${WHILE}, during the graceful shutdown kept`,
      action: 'escalate to emergency',
    }
  return {
    signal,
    mode: emergency ? 'emergency' : 'graceful',
    reason: `${signal} received ${WHILE}`,
    action: `${emergency ? 'emergency' : 'graceful'} shutdown`,
  }
}

/**
 * SIGTERM, SIGINT and SIGUSR2 sent to a standby, from its start until it leads. While it follows,
 * TERM or INT stops it following, and USR2 is said and ignored: a standby has no order to cancel
 * and leads nothing (Node's default for USR2 would end it at once, saying nothing). From the moment
 * it holds the lease (catching up with the stream, then starting the leading haltd) until the
 * leading haltd has its own handlers, it is the engine's leader and a signal is the leader's to act
 * on: kept (`keptRequest`) and asked of the leader once it leads, so it is recorded in the log like
 * any other; a signal the leader's own handlers already take is left to them.
 */
export function installStandbySignals(p: StandbySignalPorts, target: NodeJS.Process = process): StandbySignals {
  let stopping = false
  const kept: Kept[] = []
  const under = (): ShutdownMode | undefined => (kept.some((k) => k.mode === 'emergency') ? 'emergency' : kept.length > 0 ? 'graceful' : undefined)
  const on = (signal: NodeJS.Signals) => {
    const role = p.role()
    if (role === 'leader') {
      // the leading haltd's handlers are in place (a listener added since these): the signal is theirs
      if (target.listeners(signal).some((l) => !before.get(signal)!.has(l) && l !== own.get(signal))) return
      const { action, ...request } = keptRequest(signal, under())
      kept.push(request)
      p.onSignal(signal, `this instance holds the lease and is taking over the engine: ${action}, asked of the leader once it leads`)
      return
    }
    if (role === 'stopped') return p.onSignal(signal, 'ignored: the standby has stopped')
    if (signal === 'SIGUSR2') return p.onSignal(signal, 'ignored: a standby leads nothing and has no order to cancel; it keeps following')
    if (stopping) return p.onSignal(signal, 'ignored: the standby is stopping already')
    stopping = true
    p.onSignal(signal, 'stop following')
    p.stopFollowing()
  }
  const signals = ['SIGTERM', 'SIGINT', 'SIGUSR2'] as const
  // an embedder's own listeners, there before these, are not the leader's
  const before = new Map<NodeJS.Signals, Set<unknown>>(signals.map((s) => [s, new Set(target.listeners(s))]))
  const handlers = signals.map((s) => [s, () => on(s)] as const)
  const own = new Map<NodeJS.Signals, unknown>(handlers)
  for (const [s, h] of handlers) target.on(s, h)
  const unhook = () => {
    for (const [s, h] of handlers) target.off(s, h)
  }
  return {
    off() {
      unhook()
      for (const k of kept.splice(0)) p.onSignal(k.signal, `the ${k.mode} shutdown kept for the leader is not asked: this instance did not come to lead`)
    },
    take() {
      return kept.some((k) => k.mode === 'emergency') ? kept.splice(0) : []
    },
    gaveBack(why) {
      const asked = kept.splice(0)
      if (asked.length === 0) return
      const first = asked[0]!
      if (stopping) return p.onSignal(first.signal, `the lease went back before this instance led (${why}): the standby is stopping already`)
      stopping = true
      p.onSignal(first.signal, `the lease went back before this instance led (${why}): the stop kept for the leader stops it following`)
      p.stopFollowing()
    },
    promoted(leader) {
      unhook()
      for (const asked of kept.splice(0)) {
        const failed = (e: unknown) =>
          p.onSignal(asked.signal, `the ${asked.mode} shutdown asked of the leader failed: ${e instanceof Error ? e.message : String(e)}`)
        // a leader that refuses at once (it has stopped already) throws rather than rejects
        try {
          leader.shutdown({ mode: asked.mode, reason: asked.reason, origin: 'signal' }).catch(failed)
        } catch (e) {
          failed(e)
        }
      }
    },
  }
}
