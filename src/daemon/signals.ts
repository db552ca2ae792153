import type { ShutdownMode } from '../events/primitives.js'

export type SignalHandlers = {
  /** Synchronous, before anything else: closes the order gate (emergency only). */
  halt(reason: string): void
  /** Starts or escalates a shutdown; must not throw. */
  request(mode: ShutdownMode, reason: string): void
  /** Whether a graceful shutdown is under way (a second SIGTERM then escalates). */
  shuttingDown(): ShutdownMode | undefined
  /** A signal arrived (for the log). */
  onSignal?(signal: NodeJS.Signals, action: string): void
}

/**
 * SIGTERM and SIGINT start a graceful shutdown; a second one during it escalates to emergency
 * (the double Ctrl-C convention). SIGUSR2 is the emergency path at any time. For an emergency the
 * gate closes inside the handler itself, before any await, so no order slips out meanwhile.
 * A signal during an emergency changes nothing but is still requested, so the shutdown records
 * it as received and ignored: SIGTERM and SIGUSR2 sent together usually reach Node USR2 first (the
 * kernel delivers the lower signal number first), and the audit must show the TERM too.
 * SIGHUP and SIGUSR1 are taken and logged, and do nothing else. Returns the function that removes
 * the handlers.
 */
export function installSignalHandlers(h: SignalHandlers, target: NodeJS.Process = process): () => void {
  const graceful = (signal: NodeJS.Signals) => {
    const under = h.shuttingDown()
    if (under === undefined) {
      h.onSignal?.(signal, 'graceful shutdown')
      h.request('graceful', `${signal} received`)
      return
    }
    if (under === 'graceful') {
      h.halt(`second ${signal}: escalating to emergency`)
      h.onSignal?.(signal, 'escalate to emergency')
      h.request('emergency', `second ${signal} during graceful shutdown`)
      return
    }
    h.onSignal?.(signal, 'ignored: emergency already under way')
    h.request('graceful', `${signal} received during emergency shutdown`)
  }
  const emergency = (signal: NodeJS.Signals) => {
    h.halt(`${signal}: emergency`)
    const under = h.shuttingDown()
    if (under === 'emergency') {
      h.onSignal?.(signal, 'ignored: emergency already under way')
      h.request('emergency', `${signal} received during emergency shutdown`)
      return
    }
    h.onSignal?.(signal, under === 'graceful' ? 'escalate to emergency' : 'emergency shutdown')
    h.request('emergency', `${signal} received${under === 'graceful' ? ' during graceful shutdown' : ''}`)
  }
  const onTerm = () => graceful('SIGTERM')
  const onInt = () => graceful('SIGINT')
  const onUsr2 = () => emergency('SIGUSR2')
  target.on('SIGTERM', onTerm)
  target.on('SIGINT', onInt)
  target.on('SIGUSR2', onUsr2)
  const offStray = ignoreStraySignals(
    (signal, action) => h.onSignal?.(signal, action),
    'haltd keeps running (SIGTERM or SIGINT: graceful shutdown; SIGUSR2: emergency)',
    target,
  )
  return () => {
    target.off('SIGTERM', onTerm)
    target.off('SIGINT', onInt)
    target.off('SIGUSR2', onUsr2)
    offStray()
  }
}

/**
 * Take SIGHUP and SIGUSR1, say so, and do nothing else, for as long as a long-lived haltd process
 * runs (a leader, a standby). Without a handler, SIGHUP (a closed terminal, an ssh session dropped)
 * ends Node at once, with no shutdown and orders left at the venues, and SIGUSR1 (one key from the
 * emergency's USR2) opens Node's inspector on 127.0.0.1:9229, where any local user can run code
 * inside haltd. `keepsRunning` says what the process does meanwhile. Returns the function that
 * removes the handlers.
 */
export function ignoreStraySignals(
  onSignal: (signal: NodeJS.Signals, action: string) => void,
  keepsRunning: string,
  target: NodeJS.Process = process,
): () => void {
  const onHup = () => onSignal('SIGHUP', `ignored: ${keepsRunning}`)
  const onUsr1 = () => onSignal('SIGUSR1', 'ignored: not a haltd signal, and no inspector is opened (SIGUSR2 is the emergency)')
  target.on('SIGHUP', onHup)
  target.on('SIGUSR1', onUsr1)
  return () => {
    target.off('SIGHUP', onHup)
    target.off('SIGUSR1', onUsr1)
  }
}
