import type { KV } from '@nats-io/kv'
import { z } from 'zod'
import { EngineName } from '../config.js'
import { type BucketKeys, CONTROL_BUCKET, memberKey, REGISTRY_BUCKET, rowKey } from './buckets.js'
import { FleetRow } from './row.js'
import { FleetSignature, fleetKeyOf, forgedWhy, signed } from './signature.js'

/** The control bucket's note that an engine joined the fleet: an engine whose rows expired is reported gone, not forgotten. */
export const FleetMemberNote = z.strictObject({ engine: EngineName, instance: z.string(), at: z.string(), sig: FleetSignature })

export type Registration = {
  /** Write the row now (a state change should not wait for the next refresh). */
  publish(): Promise<void>
  /** Stop refreshing; with `final`, write it last (a stopped engine's exit code stays until its row expires). */
  stop(final?: FleetRow): Promise<void>
}

/**
 * Keep this engine's row in the registry: written at once, then every `refreshMs`, each time from
 * the projections as they are then. One write at a time: a slow NATS delays the next, never stacks them.
 */
export function startRegistration(input: {
  registry: KV
  control: KV
  engine: string
  instance: string
  row: () => FleetRow
  refreshMs: number
  onError: (e: unknown) => void
}): Registration {
  const key = rowKey(input.engine, input.instance)
  let writing: Promise<void> | undefined
  let stopped = false
  // signed as read back through the schema: its key order is the one a reader's check sees
  const write = async (row: FleetRow) => {
    const fleetKey = fleetKeyOf(input.registry)
    await input.registry.put(key, JSON.stringify(fleetKey ? signed(FleetRow.parse(row), fleetKey) : row))
  }
  const publish = async (): Promise<void> => {
    if (stopped) return
    if (writing) return writing
    writing = write(input.row())
      .catch((e) => input.onError(e))
      .finally(() => {
        writing = undefined
      })
    return writing
  }
  // The engines ever seen: an engine whose row expired is reported gone, not forgotten.
  const note = FleetMemberNote.parse({ engine: input.engine, instance: input.instance, at: new Date().toISOString() })
  input.control.put(memberKey(input.engine), JSON.stringify(signed(note, fleetKeyOf(input.control)))).catch((e) => input.onError(e))
  void publish()
  const timer = setInterval(() => void publish(), input.refreshMs)
  timer.unref?.()
  return {
    publish,
    async stop(final) {
      stopped = true
      clearInterval(timer)
      await writing
      if (final) await write(final).catch((e) => input.onError(e))
    },
  }
}

/**
 * Whether a row (or a member note) was written by an engine of this fleet, where the reader has
 * the fleet key: `signed` under it, `unsigned`, or `forged` (its signature does not hold). A reader
 * without the key checks nothing and marks nothing.
 */
export type RowSignature = 'signed' | 'unsigned' | 'forged'

/**
 * One engine as `haltd fleet status` shows it: its latest row, or only its name when it is gone.
 * A row this fleet's key does not vouch for is shown with why (`unsigned`, `forged`), and never
 * counts as the engine's: it neither answers for the engine nor keeps a stop from it.
 */
export type FleetMember =
  | { engine: string; reachable: true; row: FleetRow; ageMs: number; signature?: 'signed' }
  | {
      engine: string
      reachable: false
      row?: FleetRow
      ageMs?: number
      why: 'stale' | 'gone' | 'unsigned' | 'forged'
      signature?: RowSignature
      problem?: string
    }

/** A member whose row an engine of this fleet wrote (or, in a fleet without a key, any row). */
export const vouched = (m: FleetMember): boolean => m.signature !== 'unsigned' && m.signature !== 'forged'

/** A row is stale once it missed this many refreshes (plus a second's slack for a slow NATS). */
const STALE_AFTER_REFRESHES = 3

/** How old a row refreshed every `refreshMs` may be and still count as fresh. */
export const staleAfterMs = (refreshMs: number): number => STALE_AFTER_REFRESHES * refreshMs + 1_000

/** A row's signature as checked under `key`; nothing where there is no key (a fleet that does not sign says nothing of it). */
function signatureOf(value: { sig?: string | undefined }, key: Buffer | undefined): { signature?: RowSignature; problem?: string } {
  if (!key) return {}
  const why = forgedWhy(value, key)
  if (why === undefined) return { signature: 'signed' }
  return { signature: value.sig === undefined ? 'unsigned' : 'forged', problem: why.replace('its commands', 'its rows') }
}

/**
 * Every engine of the fleet: each row in the registry (reachable while fresh, stale after missing
 * refreshes), and each engine ever seen that has no row any more (gone: its rows expired). Where
 * the reader holds the fleet key, a row or a member note not signed under it is marked so.
 */
export async function readFleet(input: { registry: KV; control: KV; keys: BucketKeys; now: number }): Promise<FleetMember[]> {
  const [rowKeys, memberKeys] = await Promise.all([input.keys(REGISTRY_BUCKET), input.keys(CONTROL_BUCKET, 'member.>')])
  // a key whose latest entry is a delete or purge marker holds nothing
  const latest = (kv: KV, key: string) => kv.get(key).then((entry) => (entry?.operation === 'PUT' ? entry : undefined))
  const rowKey = fleetKeyOf(input.registry)
  const out: FleetMember[] = []
  for (const entry of await Promise.all(rowKeys.map((key) => latest(input.registry, key)))) {
    const parsed = entry && FleetRow.safeParse(safeJson(entry.string()))
    if (!parsed?.success) continue
    const row = parsed.data
    const ageMs = Math.max(0, input.now - Date.parse(row.at))
    const { signature, problem } = signatureOf(row, rowKey)
    if (signature === 'unsigned' || signature === 'forged') {
      out.push({ engine: row.engine, reachable: false, row, ageMs, why: signature, signature, ...(problem ? { problem } : {}) })
      continue
    }
    const fresh = row.state === 'STOPPED' || ageMs <= staleAfterMs(row.refreshMs)
    const signedBy = signature === 'signed' ? { signature } : {}
    out.push(
      fresh
        ? { engine: row.engine, reachable: true, row, ageMs, ...signedBy }
        : { engine: row.engine, reachable: false, row, ageMs, why: 'stale', ...signedBy },
    )
  }
  const controlKey = fleetKeyOf(input.control)
  const members = new Map<string, { signature?: RowSignature; problem?: string }>()
  for (const entry of await Promise.all(memberKeys.map((key) => latest(input.control, key)))) {
    if (!entry) continue
    const engine = entry.key.slice('member.'.length)
    const note = FleetMemberNote.safeParse(safeJson(entry.string()))
    members.set(engine, note.success && note.data.engine === engine ? signatureOf(note.data, controlKey) : signatureOf({}, controlKey))
  }
  for (const [engine, note] of members) {
    if (out.some((m) => m.engine === engine && vouched(m))) continue
    out.push(
      note.signature === 'unsigned' || note.signature === 'forged'
        ? { engine, reachable: false, why: note.signature, signature: note.signature, ...(note.problem ? { problem: note.problem } : {}) }
        : { engine, reachable: false, why: 'gone', ...(note.signature === 'signed' ? { signature: note.signature } : {}) },
    )
  }
  return out.sort((a, b) => a.engine.localeCompare(b.engine) || (a.row?.instance ?? '').localeCompare(b.row?.instance ?? ''))
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
