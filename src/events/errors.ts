import type { z } from 'zod'
/**
 * The root of every error haltd throws on purpose. Each subclass carries what a person needs
 * to act on it (which event, which field, which venue, which step) and a stable `code`.
 */
export class HaltdError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

export type FieldProblem = { path: string; message: string }

/** An event that does not match its schema. Nothing was written. */
export class InvalidEvent extends HaltdError {
  readonly type: string | undefined
  readonly problems: FieldProblem[]
  constructor(type: string | undefined, problems: FieldProblem[]) {
    const what = type === undefined ? 'event' : `${type} event`
    super('INVALID_EVENT', `invalid ${what}: ${problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ')}`)
    this.type = type
    this.problems = problems
  }
  /** The first offending field, e.g. `data.qty`. */
  get field(): string | undefined {
    return this.problems[0]?.path
  }
}

/** A stored event this build cannot lift to a current version (a newer version or type, or a missing upcaster). */
export class UnreadableEvent extends HaltdError {
  constructor(
    readonly type: string,
    readonly v: number,
    detail: string,
  ) {
    super('UNREADABLE_EVENT', `cannot read stored ${type} v${v}: ${detail}`)
  }
}

/** Each zod issue as a field path (`a.b[0].c`, under `prefix` when given) and its message. */
export function problemsOf(error: z.ZodError, prefix = ''): FieldProblem[] {
  return error.issues.map((issue) => ({
    path: [
      prefix,
      issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
        .join('.')
        .replace(/\.\[/g, '['),
    ]
      .filter(Boolean)
      .join('.'),
    message: issue.message,
  }))
}
