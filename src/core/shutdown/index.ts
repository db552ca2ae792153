// The shutdown engine: procedures as deciders, their runner, and what they need around them.
export * from './types.js'
export { ShutdownOptions, GracefulOptions, EmergencyOptions, parseShutdownOptions, InvalidShutdownOptions, type ShutdownOptionsInput } from './options.js'
export {
  evolveShutdown,
  initialShutdownState,
  advance,
  runningStep,
  commandsOf,
  commandIdOf,
  INTERRUPTED,
  isInterrupted,
  shutdownStatus,
  type ShutdownStatus,
  type ShutdownState,
  type StepRecord,
  type CommandRecord,
  type StepDef,
  type StepPlan,
  type StepContext,
  type ProcedureDef,
  type Procedure,
  type ShutdownFact,
} from './procedure.js'
export { GRACEFUL_STEPS, GRACEFUL_BUDGETS, SERVICE_ORDER, graceful, awaitSatisfied, isAggressive, ordersToFinish } from './graceful.js'
export { EMERGENCY_STEPS, EMERGENCY_SHARES, emergency, emergencyBudget } from './emergency.js'
export { decideShutdown, shutdownDecider, foldShutdown, PROCEDURES, ShutdownNotStarted, ShutdownAlreadyStarted, ShutdownFinished } from './decider.js'
export { ShutdownRunner } from './runner.js'
export {
  ShutdownController,
  resumePoint,
  findUnfinishedShutdown,
  emergencyFromRisk,
  type ShutdownHandle,
  type ShutdownRequestInput,
  type ResumePoint,
} from './controller.js'
export type { ShutdownPorts, StrategyControl } from './ports.js'
export type { Notification, NotificationSink, Notifier, DeliveryOutcome, DeliveryProgress } from './notifier.js'
export { worldOf } from './world.js'
export {
  createCheckpointer,
  verifyCheckpoint,
  writeFileAtomic,
  canonicalJson,
  checksumOf,
  recoveryNote,
  CheckpointFailed,
  CheckpointContent,
  type Checkpointer,
  type CheckpointWritten,
  type CheckpointVerdict,
} from './checkpoint.js'
export { buildShutdownReport, formatShutdownReport, type ShutdownReport } from './report.js'
