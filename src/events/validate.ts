import { current, type EventType, type HaltdEvent } from './catalogue.js'
import { schemaAt, upcast } from './versions.js'
import { InvalidEvent, problemsOf, type FieldProblem } from './errors.js'
import { hasLoneSurrogate, LONE_SURROGATE_MESSAGE } from './text.js'

const known = new Set<string>(Object.keys(current))

export function isEventType(type: unknown): type is EventType {
  return typeof type === 'string' && known.has(type)
}

/**
 * Check `{ type, v?, data }` against its schema and lift it to the current version.
 * Throws `InvalidEvent` naming every offending field; never returns a half-valid event.
 */
export function parseEvent(input: { type: unknown; v?: unknown; data: unknown }): HaltdEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidEvent(undefined, [{ path: '', message: 'an event must be an object with type and data' }])
  }
  const { type } = input
  if (!isEventType(type)) {
    throw new InvalidEvent(typeof type === 'string' ? type : undefined, [
      { path: 'type', message: typeof type === 'string' ? `unknown event type '${type}'` : 'must be a string naming an event type' },
    ])
  }
  const latest = current[type].v
  const v = input.v === undefined ? latest : input.v
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new InvalidEvent(type, [{ path: 'v', message: 'must be an integer schema version' }])
  }
  const schema = schemaAt(type, v)
  if (!schema) {
    throw new InvalidEvent(type, [{ path: 'v', message: `version ${v} of ${type} is unknown (current is ${latest})` }])
  }
  const parsed = schema.safeParse(input.data)
  if (!parsed.success) throw new InvalidEvent(type, problemsOf(parsed.error, 'data'))
  if (v === latest) return { type, data: parsed.data } as HaltdEvent
  return { type, data: current[type].data.parse(upcast(type, v, parsed.data)) } as HaltdEvent
}

const ENVELOPE_FIELDS = ['stream', 'causationId', 'correlationId', 'idempotencyKey'] as const
const MAX_ENVELOPE_FIELD = 500

/**
 * Check the envelope fields a writer may set besides the event (stream, causation and
 * correlation ids, idempotency key): each absent, or a non-empty string of at most 500
 * characters with no lone UTF-16 surrogate. They are stored and hashed as text, so anything else
 * would be written in a form the hash chain does not cover (text.ts). Throws `InvalidEvent` naming every offending field.
 */
export function checkEnvelopeInput(input: { type?: unknown } & Partial<Record<(typeof ENVELOPE_FIELDS)[number], unknown>>): void {
  let problems: FieldProblem[] | undefined
  for (const field of ENVELOPE_FIELDS) {
    const value = input[field]
    if (value === undefined || value === null) continue
    const message =
      typeof value !== 'string'
        ? `must be a string, got ${Array.isArray(value) ? 'array' : typeof value}`
        : value.length === 0
          ? 'must not be empty'
          : value.length > MAX_ENVELOPE_FIELD
            ? `must be at most ${MAX_ENVELOPE_FIELD} characters`
            : hasLoneSurrogate(value)
              ? LONE_SURROGATE_MESSAGE
              : undefined
    if (message !== undefined) {
      problems ??= []
      problems.push({ path: field, message })
    }
  }
  if (problems) throw new InvalidEvent(typeof input.type === 'string' ? input.type : undefined, problems)
}

/** Validate stored data without throwing: the audit's schema check. */
export function checkStored(type: string, v: number, data: unknown): FieldProblem[] {
  if (!isEventType(type)) return [{ path: 'type', message: `unknown event type '${type}'` }]
  const schema = schemaAt(type, v)
  if (!schema) return [{ path: 'v', message: `version ${v} of ${type} is unknown` }]
  const parsed = schema.safeParse(data)
  return parsed.success ? [] : problemsOf(parsed.error, 'data')
}
