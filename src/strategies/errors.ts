import { HaltdError } from '../events/errors.js'

/** A host call named a strategy that was never registered. */
export class UnknownStrategy extends HaltdError {
  constructor(
    readonly strategyId: string,
    known: readonly string[],
  ) {
    super('UNKNOWN_STRATEGY', `no strategy with id '${strategyId}' (registered: ${known.join(', ') || 'none'})`)
  }
}

/** Two strategies were registered under the same id; events and orders could not tell them apart. */
export class DuplicateStrategy extends HaltdError {
  constructor(readonly strategyId: string) {
    super('DUPLICATE_STRATEGY', `a strategy with id '${strategyId}' is already registered`)
  }
}

/** Limits, a limit reduction or a strategy config that cannot be used; `field` names what. */
export class InvalidStrategyConfig extends HaltdError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super('INVALID_STRATEGY_CONFIG', `invalid strategy config: ${field ? `${field}: ` : ''}${detail}`)
  }
}

/** A checkpoint handed to `restoreState` does not have the host checkpoint's shape. */
export class InvalidStrategyCheckpoint extends HaltdError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super('INVALID_STRATEGY_CHECKPOINT', `invalid strategy checkpoint: ${field ? `${field}: ` : ''}${detail}`)
  }
}

/** A strategy's own `restore` threw on the state saved for it. */
export class StrategyRestoreFailed extends HaltdError {
  constructor(
    readonly strategyId: string,
    cause: unknown,
  ) {
    super(
      'STRATEGY_RESTORE_FAILED',
      `strategy '${strategyId}' could not restore its checkpointed state: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    )
  }
}

/** Market data handed to the host that is not a usable tick (a bid of 0, a missing venue…). */
export class InvalidTick extends HaltdError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super('INVALID_TICK', `invalid tick: ${field ? `${field}: ` : ''}${detail}`)
  }
}

/**
 * Deployments and config are locked (a freeze, or a shutdown from its step 2): no strategy is
 * added and no limit is loosened until an operator unlocks them. Tightening stays allowed.
 */
export class DeploymentsLocked extends HaltdError {
  constructor(
    readonly action: string,
    readonly lockReason: string,
  ) {
    super('DEPLOYMENTS_LOCKED', `${action} refused: deployments and config are locked (${lockReason}); unlock them first (POST /deployments/unlock)`)
  }
}
