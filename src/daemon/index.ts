export {
  createHaltd,
  HALTD_VERSION,
  VenueSetupFailed,
  GRACEFUL_OVERRUN_MS,
  type Haltd,
  type HaltdPorts,
  type HaltdEvents,
  type DaemonStatus,
  type Lifecycle,
  type StrategyEntry,
} from './haltd.js'
export { EXIT, exitCodeFor, type ExitCode } from '../core/shutdown/exit-codes.js'
export { ignoreStraySignals, installSignalHandlers, type SignalHandlers } from './signals.js'
export { installStandbySignals, type StandbySignals } from './standby-signals.js'
export {
  createWatchdog,
  emergencyWatchdogTimes,
  WATCHDOG_EXIT_AFTER_MS,
  WATCHDOG_KILL_AFTER_MS,
  WATCHDOG_HARD_LIMIT_MS,
  EMERGENCY_DEADLINE_MAX_MS,
  type Watchdog,
} from './watchdog.js'
export { StartupMismatch, type StartupReconciliation } from './startup.js'
export { createStandby } from './haltd.js'
export { NotLeading, StandbyNotConfigured, type Standby, type StandbyStatus, type StandbyVenue } from './standby.js'
