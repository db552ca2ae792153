import type { z } from 'zod'
import { current, type EventType, type HaltdEvent } from './catalogue.js'
import { schemaAt, upcast } from './versions.js'
import { InvalidEvent, type FieldProblem } from './errors.js'

const known = new Set<string>(Object.keys(current))

export function isEventType(type: unknown): type is EventType {
  return typeof type === 'string' && known.has(type)
}

function problemsOf(error: z.ZodError, prefix: string): FieldProblem[] {
  return error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'),
    message: i.message,
  }))
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

/** Validate stored data without throwing: the audit's schema check. */
export function checkStored(type: string, v: number, data: unknown): FieldProblem[] {
  if (!isEventType(type)) return [{ path: 'type', message: `unknown event type '${type}'` }]
  const schema = schemaAt(type, v)
  if (!schema) return [{ path: 'v', message: `version ${v} of ${type} is unknown` }]
  const parsed = schema.safeParse(data)
  return parsed.success ? [] : problemsOf(parsed.error, 'data')
}
