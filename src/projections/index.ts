export * from './fact.js'
export * from './anomalies.js'
export { ORDER_TRANSITIONS, evolveOrder, isLive, newlyFilled, remainingQty, type Order, type OrderStatus, type OrderEventKind } from './orders.js'
export { applyFill, emptyPosition, unrealizedAt, type Position } from './positions.js'
export { exposures, exposureOf, type Exposure } from './exposure.js'
export { contractSizeOf, evolveVenue, emptyVenue, type VenueView } from './venues.js'
export { evolveTrading, evolveStrategy, initialTrading, type TradingView, type KillSwitch, type DrainState, type StrategyView } from './trading.js'
export {
  evolveShutdown,
  initialShutdownState,
  openStep,
  runningStep,
  commandsOf,
  runningMode,
  shutdownStatus,
  shutdownProgress,
  shutdownPhases,
  type ShutdownPhase,
  type ShutdownState,
  type ShutdownFact,
  type StepRecord,
  type CommandRecord,
  type Procedure,
  type ShutdownProgress,
  type StepProgress,
} from './shutdowns.js'
export {
  RUN_EVENT_TYPES,
  RUNS_READ,
  evolveRuns,
  initialRuns,
  openRun,
  runs,
  type LostLead,
  type Run,
  type RunEnd,
  type RunFact,
  type RunsState,
} from './runs.js'
export { evolve, initialState, strategyOf, type HaltdState, type PnlTotals, type Retention, type VenueEvidence } from './state.js'
export {
  reconciliation,
  reconciliationClaim,
  unseenBooksLine,
  venueEvidenceLine,
  toleranceFor,
  DEFAULT_TOLERANCE,
  type Reconciliation,
  type ReconciliationRow,
  type ReconciliationStatus,
  type ReconciliationVerdict,
  type VenueReconciliation,
  type ObservationEvidence,
  type Unanswered,
} from './reconciliation.js'
export * from './selectors.js'
export { serializeState, deserializeState, stateHash } from './serialize.js'
export { replay } from './replay.js'
