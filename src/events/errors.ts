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
  return error.issues.flatMap(explained).map((issue) => ({
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

type Issue = z.core.$ZodIssue

/**
 * A union's own issue says only that no form matched ("Invalid input"). Where exactly one form
 * fits the value's shape (right type, no unknown key, every key it needs given) and fails only
 * inside, that form's issues say what is wrong: `stop.signal: expected one of SIGTERM, …` rather
 * than `stop: Invalid input`. Otherwise the union's own message stands, which a schema sets to
 * name the forms it takes.
 */
function explained(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue]
  const near = issue.errors.filter((form) => form.length > 0 && form.every((i) => i.path.length > 0 && !isMissing(i)))
  if (near.length !== 1) return [issue]
  return near[0]!.flatMap((i) => explained({ ...i, path: [...issue.path, ...i.path] } as Issue))
}

/** A key the form needs that the value does not have (zod says so only in its message). */
const isMissing = (i: Issue) => i.code === 'invalid_type' && i.message.endsWith('received undefined')
