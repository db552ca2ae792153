import type { EventData } from '../../events/index.js'

/**
 * How a haltd process ends, for supervisors (systemd, Kubernetes, scripts):
 * 0 shut down clean (flat where flattening was asked, every venue's reconciliation verified and
 * matching), 2 shut down with residual exposure, unconfirmed cancels, a reconciliation that is
 * not OK (MISMATCH or UNVERIFIED) or an engine not seen gone, whatever else failed, 3 emergency
 * shutdown whatever it left (its report says what), 1 crash, bad config, or a graceful shutdown
 * that left no exposure but could not verify itself (no valid checkpoint, a failed health check).
 */
export const EXIT = {
  clean: 0,
  crash: 1,
  residual: 2,
  emergency: 3,
} as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

export type ShutdownOutcome = EventData<'shutdown.completed'>['outcome']

/** The exit code for a finished shutdown's outcome (as `shutdown.completed` records it): the one mapping. */
export function exitCodeFor(outcome: ShutdownOutcome): ExitCode {
  switch (outcome) {
    case 'clean':
      return EXIT.clean
    case 'residual-exposure':
      return EXIT.residual
    case 'emergency':
      return EXIT.emergency
    case 'failed':
      return EXIT.crash
  }
}
