import type { KV } from '@nats-io/kv'
import { type BucketKeys, CONTROL_BUCKET, memberKey, REGISTRY_BUCKET, rowKey } from './buckets.js'
import { FleetRow } from './row.js'

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
  const write = async (row: FleetRow) => {
    await input.registry.put(key, JSON.stringify(row))
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
  input.control
    .put(memberKey(input.engine), JSON.stringify({ engine: input.engine, instance: input.instance, at: new Date().toISOString() }))
    .catch((e) => input.onError(e))
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

/** One engine as `haltd fleet status` shows it: its latest row, or only its name when it is gone. */
export type FleetMember =
  | { engine: string; reachable: true; row: FleetRow; ageMs: number }
  | { engine: string; reachable: false; row?: FleetRow; ageMs?: number; why: 'stale' | 'gone' }

/** A row is stale once it missed this many refreshes (plus a second's slack for a slow NATS). */
const STALE_AFTER_REFRESHES = 3

/**
 * Every engine of the fleet: each row in the registry (reachable while fresh, stale after missing
 * refreshes), and each engine ever seen that has no row any more (gone: its rows expired).
 */
export async function readFleet(input: { registry: KV; control: KV; keys: BucketKeys; now: number }): Promise<FleetMember[]> {
  const [rowKeys, memberKeys] = await Promise.all([input.keys(REGISTRY_BUCKET), input.keys(CONTROL_BUCKET, 'member.>')])
  // a key whose latest entry is a delete or purge marker holds nothing
  const latest = (kv: KV, key: string) => kv.get(key).then((entry) => (entry?.operation === 'PUT' ? entry : undefined))
  const rows: FleetRow[] = []
  for (const entry of await Promise.all(rowKeys.map((key) => latest(input.registry, key)))) {
    const parsed = entry && FleetRow.safeParse(safeJson(entry.string()))
    if (parsed?.success) rows.push(parsed.data)
  }
  const members = new Set<string>()
  for (const entry of await Promise.all(memberKeys.map((key) => latest(input.control, key)))) if (entry) members.add(entry.key.slice('member.'.length))
  const out: FleetMember[] = rows.map((row) => {
    const ageMs = Math.max(0, input.now - Date.parse(row.at))
    const fresh = row.state === 'STOPPED' || ageMs <= STALE_AFTER_REFRESHES * row.refreshMs + 1_000
    return fresh ? { engine: row.engine, reachable: true, row, ageMs } : { engine: row.engine, reachable: false, row, ageMs, why: 'stale' }
  })
  for (const engine of members) if (!rows.some((r) => r.engine === engine)) out.push({ engine, reachable: false, why: 'gone' })
  return out.sort((a, b) => a.engine.localeCompare(b.engine) || (a.row?.instance ?? '').localeCompare(b.row?.instance ?? ''))
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
