// The public entry of haltd.
export * from './events/index.js'
export { openEventLog, EventLog, chainHash, type EventLogOptions, type Durability, type ReadOptions, type StoredRow, type VerifyResult } from './core/event-log.js'
export { systemClock, manualClock, uuidIds, sequentialIds, type Clock, type IdSource } from './core/clock.js'
export { NotAnEventLog, NewerLogFormat, LogWriteFailed, LogClosed, LogReadOnly } from './core/errors.js'
export * from './strategies/index.js'
export * from './core/risk/index.js'
export {
  createHaltd, HALTD_VERSION, EXIT, exitCodeFor, StartupMismatch, VenueSetupFailed, installSignalHandlers, createWatchdog, simTickerSource,
  type Haltd, type HaltdPorts, type HaltdEvents, type DaemonStatus, type Lifecycle, type StrategyEntry, type ExitCode, type StartupReconciliation, type TickerSource,
} from './core/daemon/index.js'
export { HaltdConfig, loadConfig, parseConfig, configHash, redactConfig, InvalidConfig, type HaltdConfigInput, type LoadConfigOptions } from './core/config.js'
export { createLogger, Secrets, type Logger, type LoggerOptions } from './core/logger.js'
export { createNotifier, logSink, webhookSink, WebhookFailed, type Notification, type NotificationSink, type Notifier } from './core/notify/index.js'
export { startAdminServer, adminRequest, readAdminInfo, adminInfoPath, type AdminServer, type AdminBackend, type Metric } from './core/admin/index.js'
export * from './exchanges/index.js'
export * from './projections/index.js'
export { createProjectionRunner, replayLog, type ProjectionRunner } from './core/projection-runner.js'
export { OrderGate, type GateView } from './core/gate.js'
export { OrderRouter, UnknownVenue, type SubmitOrder, type SubmitOutcome, type CancelRef, type CancelOutcome } from './core/order-router.js'
export { recordUpdates, observeVenue } from './core/venue-recorder.js'
export * from './core/shutdown/index.js'
// Both the projections and the shutdown deciders have an evolveShutdown and a DrainState: the
// plain names are the projections'; the deciders' carry their role in the name.
export { evolveShutdown, type DrainState } from './projections/index.js'
export { evolveShutdown as evolveShutdownDecider, type DrainState as DrainDeciderState } from './core/shutdown/index.js'
