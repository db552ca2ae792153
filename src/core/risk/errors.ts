import { HaltdError } from '../../events/errors.js'

/** A kill switch reset without a reason: the audit must be able to say why trading resumed. */
export class ResetNeedsReason extends HaltdError {
  constructor() {
    super('RESET_NEEDS_REASON', 'a kill switch reset needs a reason (who checked what, and why trading may resume)')
  }
}

/** A reset asked for while the kill switch is not latched. */
export class KillSwitchNotLatched extends HaltdError {
  constructor() {
    super('KILL_SWITCH_NOT_LATCHED', 'the kill switch is not latched: there is nothing to reset')
  }
}

/** A manual activation without a reason. */
export class ActivationNeedsReason extends HaltdError {
  constructor() {
    super('ACTIVATION_NEEDS_REASON', 'activating the kill switch needs a reason')
  }
}
