// The public entry of haltd.
export * from './events/index.js'
export {
  openEventLog,
  EventLog,
  chainHash,
  type EventLogOptions,
  type Durability,
  type ReadOptions,
  type StoredRow,
  type VerifyResult,
} from './core/log/event-log.js'
export { systemClock, manualClock, uuidIds, sequentialIds, type Clock, type IdSource } from './events/clock.js'
export { NotAnEventLog, NewerLogFormat, LogWriteFailed, LogClosed, LogReadOnly, LogLocked, LogOpenFailed, type LockHolder } from './core/log/errors.js'
export { anchorOf, checkAnchor, formatAnchor, parseAnchor, type LogAnchor } from './core/log/anchor.js'
export * from './strategies/index.js'
export * from './core/risk/index.js'
export {
  createHaltd,
  HALTD_VERSION,
  EXIT,
  exitCodeFor,
  StartupMismatch,
  VenueSetupFailed,
  installSignalHandlers,
  createWatchdog,
  type Haltd,
  type HaltdPorts,
  type HaltdEvents,
  type DaemonStatus,
  type Lifecycle,
  type StrategyEntry,
  type ExitCode,
  type StartupReconciliation,
} from './daemon/index.js'
export {
  HaltdConfig,
  loadConfig,
  parseConfig,
  configHash,
  redactConfig,
  InvalidConfig,
  type HaltdConfigInput,
  type LoadConfigOptions,
} from './daemon/config.js'
export { createLogger, Secrets, type Logger, type LoggerOptions } from './daemon/logger.js'
export { createNotifier, logSink, webhookSink, WebhookFailed, type Notification, type NotificationSink, type Notifier } from './daemon/notify/index.js'
export { startAdminServer, adminRequest, readAdminInfo, adminInfoPath, type AdminServer, type AdminBackend, type Metric } from './admin/index.js'
export * from './exchanges/index.js'
export * from './projections/index.js'
export { createProjectionRunner, replayLog, type ProjectionRunner } from './core/log/projection-runner.js'
export { OrderGate, type GateView } from './core/execution/gate.js'
export { OrderRouter, UnknownVenue, type SubmitOrder, type SubmitOutcome, type CancelRef, type CancelOutcome } from './core/execution/order-router.js'
export { recordUpdates, observeVenue } from './core/execution/venue-recorder.js'
export * from './core/shutdown/index.js'
export {
  DrainController,
  drainDecider,
  decideDrain,
  evolveDrain,
  DrainRefused,
  LockedFunds,
  type DrainCommand,
  type DrainResult,
} from './core/execution/drain.js'
export { PauseController, pauseDecider, decidePause, evolvePause, PauseRefused, type PauseState, type PauseCommand } from './core/execution/pause.js'
export { createDecisionReplay, replayShutdownDecisions, type DecisionDivergence, type DecisionReplay } from './audit/decision-replay.js'
// Both the projections and the drain decider have a DrainState: the plain name is the
// projections'; the decider's carries its role in the name.
export type { DrainState } from './projections/index.js'
export type { DrainState as DrainDeciderState } from './core/execution/drain.js'
