import { HaltdError } from '../events/errors.js'

export class UsageError extends HaltdError {
  constructor(message: string) {
    super('USAGE', message)
  }
}

export type FlagSpec = Record<string, 'string' | 'boolean' | 'number'>

/** A number as a person writes one: digits, a sign, a decimal point; not `0x10`, `1e3`, ` 5 ` or an empty string. */
const PLAIN_NUMBER = /^-?(?:\d+(?:\.\d+)?|\.\d+)$/

/**
 * A small strict flag parser: unknown flags, missing values, a value flag given twice and a number
 * that is not written plainly are errors that name the flag.
 */
export function parseFlags<S extends FlagSpec>(
  args: string[],
  spec: S,
): { flags: { [K in keyof S]?: S[K] extends 'boolean' ? boolean : S[K] extends 'number' ? number : string }; positional: string[] } {
  const flags: Record<string, unknown> = {}
  const positional: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') {
      // the end of the options: what follows is positional, however it starts
      positional.push(...args.slice(i + 1))
      break
    }
    if (!arg.startsWith('--')) {
      positional.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    const kind = spec[name]
    if (!kind) throw new UsageError(`unknown option --${name}`)
    if (kind === 'boolean') {
      flags[name] = true
      continue
    }
    const raw = eq === -1 ? args[++i] : arg.slice(eq + 1)
    if (raw === undefined || (eq === -1 && raw.startsWith('--'))) throw new UsageError(`--${name} needs a value`)
    if (Object.hasOwn(flags, name)) throw new UsageError(`--${name} is given twice: which one is meant is not for haltd to guess`)
    if (kind === 'number') {
      const n = Number(raw)
      if (!PLAIN_NUMBER.test(raw) || !Number.isFinite(n)) throw new UsageError(`--${name} must be a plain decimal number, got '${raw}'`)
      if (Math.abs(n) > Number.MAX_SAFE_INTEGER) throw new UsageError(`--${name} is past what haltd counts exactly (${Number.MAX_SAFE_INTEGER}), got '${raw}'`)
      flags[name] = n
    } else flags[name] = raw
  }
  return { flags: flags as never, positional }
}
