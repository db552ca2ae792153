import { HaltdError } from '../../events/errors.js'
import { ShutdownOptions } from '../../events/shutdown.js'

// The schemas are what a shutdown records (src/events/shutdown.ts); the engine checks them here.
export { EmergencyOptions, GracefulOptions, ShutdownOptions, type ShutdownOptionsInput } from '../../events/shutdown.js'

/** Shutdown options that cannot be used; `field` names which. */
export class InvalidShutdownOptions extends HaltdError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super('INVALID_SHUTDOWN_OPTIONS', `invalid shutdown options: ${field ? `${field}: ` : ''}${detail}`)
  }
}

export function parseShutdownOptions(input: unknown): ShutdownOptions {
  const result = ShutdownOptions.safeParse(input ?? {})
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  throw new InvalidShutdownOptions(issue.path.map(String).join('.'), issue.message)
}
