// The public entry of haltd.
export * from './events/index.js'
export { openEventLog, EventLog, chainHash, type EventLogOptions, type Durability, type ReadOptions, type StoredRow, type VerifyResult } from './core/event-log.js'
export { systemClock, manualClock, uuidIds, sequentialIds, type Clock, type IdSource } from './core/clock.js'
export { NotAnEventLog, NewerLogFormat, LogWriteFailed, LogClosed, LogReadOnly } from './core/errors.js'
export * from './strategies/index.js'
export * from './core/risk/index.js'
