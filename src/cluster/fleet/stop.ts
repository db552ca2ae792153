import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { type FleetBuckets, stopKey } from './buckets.js'
import type { Issued } from './control.js'
import { FleetSignature, fleetKeyOf, forgedWhy, signed } from './signature.js'
import { readFleet, type FleetMember, vouched } from './registry.js'
import { EngineName } from '../config.js'

/** A fleet stop as each engine it names finds it under its own key: run this procedure, for this reason. */
export const FleetStopRequest = z.strictObject({
  id: z.string().min(1).max(100),
  /**
   * The engine it stops, inside what the signature covers: a signed request copied from one
   * engine's stop key to another's is refused there. Absent only in requests from earlier builds,
   * which an engine with the fleet key refuses.
   */
  engine: EngineName.optional(),
  mode: z.enum(['graceful', 'emergency']),
  reason: z.string().trim().min(1).max(2000),
  by: z.string().min(1).max(200),
  host: z.string().min(1).max(200),
  instance: z.string().max(200).optional(),
  at: z.string(),
  /**
   * Until when an engine that could not see the fleet when it was issued still acts on it once it
   * sees the fleet again. Absent in requests from earlier builds: `at` + `FLEET_STOP_VALID_MS`.
   */
  validUntil: z.string().optional(),
  sig: FleetSignature,
})
export type FleetStopRequest = z.infer<typeof FleetStopRequest>

/** How long a fleet stop waits for an engine out of view, by default. */
export const FLEET_STOP_VALID_MS = 15 * 60_000

/**
 * Whether a stop request is for the run that started at `runStartedAt`, at `now`: issued after it
 * started (a request left from an earlier run is that run's, and must not stop this one), and not
 * expired. Both times are wall clocks (the operator's and the engine's): hosts keep them in sync.
 */
export function stopApplies(r: FleetStopRequest, runStartedAt: number, now: number): boolean {
  const at = Date.parse(r.at)
  const until = r.validUntil !== undefined ? Date.parse(r.validUntil) : at + FLEET_STOP_VALID_MS
  return Number.isFinite(at) && Number.isFinite(until) && at >= runStartedAt && now <= until
}

/**
 * A stop request as written for `engine`, or why it is none this engine acts on: not one haltd
 * writes, not signed with the fleet key `key`, or written for another engine (or, signed, for none).
 */
export function readFleetStop(text: string, engine: string, key?: Buffer): { request: FleetStopRequest } | { refused: string } {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { refused: 'it is not JSON' }
  }
  const parsed = FleetStopRequest.safeParse(json)
  if (!parsed.success)
    return {
      refused: `it is not a fleet stop request (${parsed.error.issues[0]?.path.join('.') || 'the value'}: ${parsed.error.issues[0]?.message ?? 'invalid'})`,
    }
  const forged = forgedWhy(parsed.data, key)
  if (forged !== undefined) return { refused: forged }
  const target = parsed.data.engine
  if (target !== undefined && target !== engine)
    return { refused: `it is written for engine ${JSON.stringify(target)}, not this one (${engine}): a request copied from another engine's stop key` }
  if (target === undefined && key !== undefined)
    return { refused: 'it names no engine: a signed stop names the engine it stops, so one cannot be copied to another engine' }
  return { request: parsed.data }
}

/**
 * Whom a fleet stop asks: `engines`, those with a fresh row that have not stopped (followed to
 * their exit), and `pending`, those the fleet knows but cannot see now (a stale row, or none left):
 * an engine cut from NATS finds the request when it sees the fleet again. An engine whose rows all
 * say it stopped is not asked. `untrusted` names those known only by rows the fleet key does not
 * vouch for: not asked, and not known to have stopped either.
 */
export function stopTargets(all: readonly FleetMember[]): { engines: string[]; pending: string[]; untrusted: string[] } {
  // a row the fleet's key does not vouch for says nothing of its engine: not that it stopped, nor that it exists
  const fleet = all.filter(vouched)
  const names = [...new Set(fleet.map((m) => m.engine))]
  const engines = names.filter((e) => fleet.some((m) => m.engine === e && m.reachable && m.row.state !== 'STOPPED'))
  const pending = names.filter((e) => !engines.includes(e) && !fleet.some((m) => m.engine === e && m.row?.state === 'STOPPED'))
  const untrusted = [...new Set(all.filter((m) => !vouched(m) && !names.includes(m.engine)).map((m) => m.engine))]
  return { engines, pending, untrusted }
}

/** Ask each engine for its procedure: one request, written under each engine's stop key, those out of view included. */
export async function requestFleetStop(
  buckets: FleetBuckets,
  input: Issued & { mode: 'graceful' | 'emergency'; reason: string; validForMs?: number | undefined },
): Promise<{ request: FleetStopRequest; engines: string[]; pending: string[]; untrusted: string[] }> {
  const { engines, pending, untrusted } = stopTargets(await readFleet({ ...buckets, now: Date.now() }))
  const now = Date.now()
  const id = randomUUID()
  const request = (engine?: string) =>
    signedStop(buckets, {
      id,
      ...(engine === undefined ? {} : { engine }),
      mode: input.mode,
      reason: input.reason,
      by: input.by,
      host: input.host,
      ...(input.instance ? { instance: input.instance } : {}),
      at: new Date(now).toISOString(),
      validUntil: new Date(now + (input.validForMs ?? FLEET_STOP_VALID_MS)).toISOString(),
    })
  // one request per engine, each naming its engine under the signature
  await Promise.all([...engines, ...pending].map((engine) => buckets.control.put(stopKey(engine), JSON.stringify(request(engine)))))
  return { request: request(), engines, pending, untrusted }
}

/** The request checked, and signed where the bucket's handle has the fleet key. */
function signedStop(buckets: FleetBuckets, request: unknown): FleetStopRequest {
  return signed(FleetStopRequest.parse(request), fleetKeyOf(buckets.control))
}

export type StopOutcome = { engine: string; exitCode: number | undefined; outcome: 'exited' | 'gone' | 'timed-out'; afterMs: number }

/**
 * Follow a fleet stop to its end: each engine's outcome as its row reports its exit (or as it goes
 * without one, or the time runs out), in the order they finish.
 */
export async function followFleetStop(
  buckets: FleetBuckets,
  input: { id: string; engines: readonly string[]; timeoutMs: number; pollMs?: number; onOutcome: (o: StopOutcome) => void },
): Promise<StopOutcome[]> {
  const started = Date.now()
  const pending = new Set(input.engines)
  const out: StopOutcome[] = []
  const done = (o: StopOutcome) => {
    pending.delete(o.engine)
    out.push(o)
    input.onOutcome(o)
  }
  while (pending.size > 0) {
    const fleet = await readFleet({ ...buckets, now: Date.now() })
    for (const engine of [...pending]) {
      const rows = fleet.filter((m) => m.engine === engine && vouched(m))
      const exited = rows.find((m) => m.row?.exit?.stopId === input.id)
      if (exited?.row?.exit) done({ engine, exitCode: exited.row.exit.code, outcome: 'exited', afterMs: Date.now() - started })
      // its rows expired (no refresh for the registry's age limit) and none said it stopped for this request
      else if (!rows.some((m) => m.row && m.row.state !== 'STOPPED')) done({ engine, exitCode: undefined, outcome: 'gone', afterMs: Date.now() - started })
    }
    if (pending.size === 0) break
    if (Date.now() - started > input.timeoutMs) {
      for (const engine of [...pending]) done({ engine, exitCode: undefined, outcome: 'timed-out', afterMs: Date.now() - started })
      break
    }
    await new Promise((r) => setTimeout(r, input.pollMs ?? 100))
  }
  return out
}
