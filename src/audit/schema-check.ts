import { current, isEventType, schemaAt, upcast } from '../events/index.js'
import { checkCompiled } from '../events/compiled.js'
import type { StoredRow } from '../core/log/event-log.js'
import type { Fact } from '../projections/fact.js'
import type { Finding } from './audit-report.js'

/**
 * Parse and check one stored row against the schema of its type at its stored version. A valid
 * row comes back as the fact the projections read (lifted to the current version, defaults
 * applied); an invalid one is reported and left out of the replay, because a projection is only
 * defined on valid events.
 */
export function factOf(seq: number, type: string, v: number, ts: number, text: string, report: (finding: Finding) => void): Fact | undefined {
  // the compiled path vouches for the common shapes at the current version (and returns exactly
  // what zod would); what it does not vouch for, zod checks and names
  const atCurrent = v === CURRENT_V.get(type)
  // an unknown type or version is named before the data is looked at
  if (!atCurrent && !(isEventType(type) && schemaAt(type, v))) return checked({ seq, type, v, ts }, undefined, report)
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    return bad({ seq, type, v }, report, 'schema.unparseable', `its data is not JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  const data = atCurrent ? checkCompiled(type, raw) : undefined
  if (data !== undefined) return { seq, ts, type, data } as Fact
  return checked({ seq, type, v, ts }, raw, report)
}

/** Each type's current version, looked up once per row. */
const CURRENT_V = new Map<string, number>(Object.entries(current).map(([type, { v }]) => [type, v]))

type Row = Pick<StoredRow, 'seq' | 'type' | 'v' | 'ts'>

function bad(row: Omit<Row, 'ts'>, report: (finding: Finding) => void, kind: string, why: string): undefined {
  report({ check: 'schema', kind, seq: row.seq, message: `seq ${row.seq} (${row.type} v${row.v}): ${why}` })
  return undefined
}

/** The row checked by zod against its type's schema at its version, lifted to the current one. */
function checked(row: Row, raw: unknown, report: (finding: Finding) => void): Fact | undefined {
  if (!isEventType(row.type)) return bad(row, report, 'schema.unknown-type', `'${row.type}' is not an event type haltd knows`)
  const schema = schemaAt(row.type, row.v)
  if (!schema) return bad(row, report, 'schema.unknown-version', `version ${row.v} of ${row.type} is unknown (current is ${current[row.type].v})`)
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    const what = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${['data', ...i.path.map(String)].join('.')}: ${i.message}`)
      .join('; ')
    return bad(row, report, 'schema.invalid', `does not match its schema: ${what}`)
  }
  const data = row.v < current[row.type].v ? upcast(row.type, row.v, parsed.data) : parsed.data
  return { seq: row.seq, ts: row.ts, type: row.type, data } as Fact
}
