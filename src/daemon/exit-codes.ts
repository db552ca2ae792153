/**
 * How a haltd process ends, for supervisors (systemd, Kubernetes, scripts):
 * 0 shut down clean (flat where flattening was asked), 2 shut down with residual exposure or
 * unconfirmed cancels, 3 emergency shutdown, 1 crash or bad config.
 */
export const EXIT = {
  clean: 0,
  crash: 1,
  residual: 2,
  emergency: 3,
} as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** The exit code for a finished shutdown's outcome (as `shutdown.completed` records it). */
export function exitCodeFor(outcome: 'clean' | 'residual-exposure' | 'emergency' | 'failed'): ExitCode {
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
