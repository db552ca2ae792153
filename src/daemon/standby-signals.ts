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
   * The standby leads now: the handlers come off, and a stop asked for while it took over is asked
   * of the leading haltd, recorded in its log as any signal's request is.
   */
  promoted(leader: { shutdown(request: { mode: ShutdownMode; reason: string; origin: 'signal' }): Promise<unknown> }): void
  off(): void
}

/**
 * SIGTERM, SIGINT and SIGUSR2 sent to a standby, from its start until it leads. While it follows,
 * TERM or INT stops it following, and USR2 is said and ignored: a standby has no order to cancel
 * and leads nothing (Node's default for USR2 would end it at once, saying nothing). From the moment
 * it takes over until the leading haltd has its own handlers, a signal is the leader's to act on:
 * kept (TERM or INT a graceful stop, a second one or USR2 an emergency) and asked of the leader
 * once it leads, so it is recorded in the log like any other; a signal the leader's own handlers
 * already take is left to them.
 */
export function installStandbySignals(p: StandbySignalPorts, target: NodeJS.Process = process): StandbySignals {
  let stopping = false
  let kept: { signal: NodeJS.Signals; mode: ShutdownMode; reason: string } | undefined
  const on = (signal: NodeJS.Signals) => {
    const role = p.role()
    if (role === 'leader') {
      // the leading haltd's handlers are in place (a listener added since these): the signal is theirs
      if (target.listeners(signal).some((l) => !before.get(signal)!.has(l) && l !== own.get(signal))) return
      const emergency = signal === 'SIGUSR2' || kept !== undefined
      kept = { signal, mode: emergency ? 'emergency' : 'graceful', reason: `${signal} received while this standby took over the engine` }
      p.onSignal(signal, `taking over the engine: the ${kept.mode} shutdown is asked of the leader once it leads`)
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
  const off = () => {
    for (const [s, h] of handlers) target.off(s, h)
  }
  return {
    off,
    promoted(leader) {
      off()
      const asked = kept
      kept = undefined
      if (!asked) return
      leader
        .shutdown({ mode: asked.mode, reason: asked.reason, origin: 'signal' })
        .catch((e: unknown) => p.onSignal(asked.signal, `the ${asked.mode} shutdown asked of the leader failed: ${e instanceof Error ? e.message : String(e)}`))
    },
  }
}
