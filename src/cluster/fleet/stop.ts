import { randomUUID } from 'node:crypto'
import type { KV } from '@nats-io/kv'
import { z } from 'zod'
import { stopKey } from './buckets.js'
import type { Issued } from './control.js'
import { readFleet, type FleetMember } from './registry.js'

/** A fleet stop as each engine it names finds it under its own key: run this procedure, for this reason. */
export const FleetStopRequest = z.strictObject({
  id: z.string().min(1).max(100),
  mode: z.enum(['graceful', 'emergency']),
  reason: z.string().trim().min(1).max(2000),
  by: z.string().min(1).max(200),
  host: z.string().min(1).max(200),
  instance: z.string().max(200).optional(),
  at: z.string(),
})
export type FleetStopRequest = z.infer<typeof FleetStopRequest>

export function parseFleetStop(text: string): FleetStopRequest | undefined {
  try {
    const parsed = FleetStopRequest.safeParse(JSON.parse(text))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

/** The engines a fleet stop can reach: those with a fresh row that have not stopped. */
export const stoppable = (fleet: readonly FleetMember[]): string[] => [
  ...new Set(fleet.flatMap((m) => (m.reachable && m.row.state !== 'STOPPED' ? [m.engine] : []))),
]

/** Ask each engine for its procedure: one request, written under each engine's stop key. */
export async function requestFleetStop(
  buckets: { registry: KV; control: KV },
  input: Issued & { mode: 'graceful' | 'emergency'; reason: string },
): Promise<{ request: FleetStopRequest; engines: string[] }> {
  const engines = stoppable(await readFleet({ ...buckets, now: Date.now() }))
  const request = FleetStopRequest.parse({
    id: randomUUID(),
    mode: input.mode,
    reason: input.reason,
    by: input.by,
    host: input.host,
    ...(input.instance ? { instance: input.instance } : {}),
    at: new Date().toISOString(),
  })
  await Promise.all(engines.map((engine) => buckets.control.put(stopKey(engine), JSON.stringify(request))))
  return { request, engines }
}

export type StopOutcome = { engine: string; exitCode: number | undefined; outcome: 'exited' | 'gone' | 'timed-out'; afterMs: number }

/**
 * Follow a fleet stop to its end: each engine's outcome as its row reports its exit (or as it goes
 * without one, or the time runs out), in the order they finish.
 */
export async function followFleetStop(
  buckets: { registry: KV; control: KV },
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
      const rows = fleet.filter((m) => m.engine === engine)
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
