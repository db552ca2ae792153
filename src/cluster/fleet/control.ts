import { randomUUID } from 'node:crypto'
import { JetStreamApiCodes } from '@nats-io/jetstream'
import type { KV } from '@nats-io/kv'
import { z } from 'zod'
import { HaltdError } from '../../events/errors.js'
import { EngineName } from '../config.js'
import type { FleetOrigin } from '../../events/index.js'
import { KILL_SWITCH_KEY } from './buckets.js'
import { FleetSignature, fleetKeyOf, forgedWhy, signed } from './signature.js'

/** An engine's name as haltd takes it (`nats.engine`): it names NATS keys and subjects, and shows on an operator's terminal. */
const Said = z.string().trim().min(1).max(2000)
/** Who issued a fleet action and from where: the fleet's record of who did what. */
const Issuer = z.strictObject({ by: z.string().min(1).max(200), host: z.string().min(1).max(200), instance: z.string().max(200).optional() })

export const FleetAction = z.enum(['HALTED', 'EMERGENCY'])
export type FleetAction = z.infer<typeof FleetAction>
export const EngineScope = z.union([z.literal('all'), z.array(EngineName).min(1)], { error: '"all", or a list of engine names' })
export type EngineScope = z.infer<typeof EngineScope>

/**
 * The revision of the key's entry a value was written over (0: none), under its signature: a value
 * copied and written again stands over another entry, whatever the key's kept history still shows.
 * Absent in values from earlier builds.
 */
const After = z.number().int().nonnegative().optional()

/**
 * The fleet kill switch's one key: set (with the action and the engines it names) or reset. Every
 * value is a new revision: the bucket's history is the record of each activation and reset.
 */
export const FleetKillSwitch = z.discriminatedUnion('state', [
  z.strictObject({
    state: z.literal('active'),
    id: z.string().min(1).max(100),
    action: FleetAction,
    engines: EngineScope,
    reason: Said,
    at: z.string(),
    ...Issuer.shape,
    after: After,
    sig: FleetSignature,
  }),
  z.strictObject({
    state: z.literal('reset'),
    id: z.string().min(1).max(100),
    resets: z.string().max(100).optional(),
    reason: Said,
    at: z.string(),
    ...Issuer.shape,
    after: After,
    sig: FleetSignature,
  }),
])
export type FleetKillSwitch = z.infer<typeof FleetKillSwitch>
export type ActiveFleetKillSwitch = Extract<FleetKillSwitch, { state: 'active' }>

export class FleetKillSwitchRefused extends HaltdError {
  constructor(message: string) {
    super('FLEET_KILL_SWITCH', message)
  }
}

/** Whether an activation names this engine. */
export const inScope = (ks: ActiveFleetKillSwitch, engine: string): boolean => ks.engines === 'all' || ks.engines.includes(engine)

/** A fleet action as an engine records it in its own log. */
export function fleetOriginOf(ks: FleetKillSwitch): FleetOrigin {
  return {
    id: ks.id,
    engines: ks.state === 'active' ? ks.engines : 'all',
    host: ks.host,
    ...(ks.instance ? { instance: ks.instance } : {}),
    at: ks.at,
  }
}

/** A value of the switch's key as written, or why it is none that haltd writes. */
function readFleetKillSwitchText(text: string, key: Buffer | undefined): { value: FleetKillSwitch } | { unreadable: string } {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { unreadable: 'it is not JSON' }
  }
  const parsed = FleetKillSwitch.safeParse(json)
  if (parsed.success) {
    const forged = forgedWhy(parsed.data, key)
    return forged === undefined ? { value: parsed.data } : { unreadable: forged }
  }
  const first = parsed.error.issues[0]
  return { unreadable: `it is not a fleet kill switch (${first?.path.join('.') || 'the value'}: ${first?.message ?? 'invalid'})` }
}

export function parseFleetKillSwitch(text: string, key?: Buffer): FleetKillSwitch | undefined {
  const read = readFleetKillSwitchText(text, key)
  return 'value' in read ? read.value : undefined
}

/**
 * The key's value that no haltd wrote, or not whole: the switch's state cannot be known from it.
 * An engine keeps the state it is in; an operator may reset over it, or set it again.
 */
export type UnreadableFleetKillSwitch = { state: 'unreadable'; revision: number; why: string }

/**
 * The switch as the bucket holds it now: undefined when never set. An activation the history
 * shows reset already, written again, is a replay (see `replayOf`).
 */
export async function readFleetKillSwitch(control: KV): Promise<{ value: FleetKillSwitch | UnreadableFleetKillSwitch; revision: number } | undefined> {
  const now = await readFleetKillSwitchValue(control)
  if (now === undefined || now.value.state === 'unreadable') return now
  const value = replayOf(now.value, now.revision, await switchHistory(control))
  return { value: value.state === 'unreadable' ? value : await placed(control, value, now.revision), revision: now.revision }
}

/** The key's value as it stands, without looking in its history for a replay (a reader that keeps the resets itself). */
export async function readFleetKillSwitchValue(control: KV): Promise<{ value: FleetKillSwitch | UnreadableFleetKillSwitch; revision: number } | undefined> {
  const entry = await control.get(KILL_SWITCH_KEY)
  if (entry?.operation !== 'PUT') return undefined
  return { value: fleetKillSwitchAt(entry.string(), entry.revision, fleetKeyOf(control)), revision: entry.revision }
}

/**
 * What the key's history shows of the values written to it: the revision each value's id was first
 * written at, and the activations reset. A reader that follows the key adds each value it reads (`noteSwitchValue`).
 */
export type SwitchHistory = { firstWritten: Map<string, number>; reset: Set<string> }

export const emptySwitchHistory = (): SwitchHistory => ({ firstWritten: new Map(), reset: new Set() })

/** `history` with the value read at `revision` in it. */
export function noteSwitchValue(history: SwitchHistory, ks: FleetKillSwitch, revision: number): void {
  const first = history.firstWritten.get(ks.id)
  if (first === undefined || revision < first) history.firstWritten.set(ks.id, revision)
  if (ks.state === 'reset' && ks.resets) history.reset.add(ks.resets)
}

/** `from`'s values added to `into`. */
export function mergeSwitchHistory(into: SwitchHistory, from: SwitchHistory): void {
  for (const [id, revision] of from.firstWritten) {
    const first = into.firstWritten.get(id)
    if (first === undefined || revision < first) into.firstWritten.set(id, revision)
  }
  for (const id of from.reset) into.reset.add(id)
}

/** The bucket's history of the switch, as `replayOf` reads it. */
export async function switchHistory(control: KV): Promise<SwitchHistory> {
  const history = emptySwitchHistory()
  for (const { value, revision } of await fleetKillSwitchHistory(control)) noteSwitchValue(history, value, revision)
  return history
}

/**
 * A value written again is no new action: haltd writes a fresh id for each activation and reset, so
 * a value whose id the history holds at an earlier revision (a message captured and sent again, a
 * backup restored over the key), or an activation the history shows reset, is a replay. A signature
 * holds on a replay as on the original, so this is what keeps a signed reset of an earlier
 * activation from releasing engines halted by a later one. A replay says nothing readable about the
 * switch now, so it is read as a value no haltd wrote: every engine names it and does what
 * `fleet.onDisconnect` says, and a reset or a new activation writes over it. A value older than the
 * key's kept history is no longer known, and its replay is acted on.
 */
export function replayOf(ks: FleetKillSwitch, revision: number, history: SwitchHistory): FleetKillSwitch | UnreadableFleetKillSwitch {
  if (ks.state === 'active' && history.reset.has(ks.id))
    return { state: 'unreadable', revision, why: `it sets again activation ${ks.id}, which was reset: a replay, not a new activation` }
  const first = history.firstWritten.get(ks.id)
  if (first !== undefined && first < revision) {
    const what = ks.state === 'active' ? 'activation' : 'reset'
    return { state: 'unreadable', revision, why: `it writes again ${what} ${ks.id}, first written at revision ${first}: a replay, not a new ${what}` }
  }
  return ks
}

/** What the key's value at `revision` says: the switch, or why it says nothing readable. */
export function fleetKillSwitchAt(text: string, revision: number, key?: Buffer): FleetKillSwitch | UnreadableFleetKillSwitch {
  const read = readFleetKillSwitchText(text, key)
  return 'value' in read ? read.value : { state: 'unreadable', revision, why: read.unreadable }
}

/** Every activation and reset the bucket still holds, oldest first. */
export async function fleetKillSwitchHistory(control: KV): Promise<{ value: FleetKillSwitch; revision: number }[]> {
  const out: { value: FleetKillSwitch; revision: number }[] = []
  for await (const e of await control.history({ key: KILL_SWITCH_KEY })) {
    if (e.operation !== 'PUT') continue
    const value = parseFleetKillSwitch(e.string(), fleetKeyOf(control))
    if (value) out.push({ value, revision: e.revision })
  }
  return out
}

export type Issued = { by: string; host: string; instance?: string | undefined }

/**
 * Set the fleet kill switch. `known` are the engines the registry knows: naming one it does not
 * know is refused (a typo must not leave the meant engine trading). Written by compare-and-set on
 * the key's revision: of two operators at once, one is refused rather than overwritten unseen.
 */
export async function activateFleetKillSwitch(
  control: KV,
  input: Issued & { action: FleetAction; engines: EngineScope; reason: string; known: ReadonlySet<string> },
): Promise<ActiveFleetKillSwitch> {
  if (input.engines !== 'all') {
    const unknown = input.engines.filter((e) => !input.known.has(e))
    if (unknown.length > 0) {
      throw new FleetKillSwitchRefused(
        `unknown engine${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (the fleet knows: ${[...input.known].sort().join(', ') || 'none'})`,
      )
    }
  }
  const now = await control.get(KILL_SWITCH_KEY)
  const value = signedBy(control, {
    state: 'active',
    id: randomUUID(),
    action: input.action,
    engines: input.engines,
    reason: input.reason,
    at: new Date().toISOString(),
    ...issuer(input),
    after: now?.revision ?? 0,
  })
  const text = JSON.stringify(value)
  // compare-and-set on what was read: written over that entry, as `after` says, or refused
  try {
    if (now === null || now.operation !== 'PUT') await control.create(KILL_SWITCH_KEY, text)
    else await control.update(KILL_SWITCH_KEY, text, now.revision)
  } catch (e) {
    // only the compare-and-set's refusal says another wrote the key; any other failure is its own
    if (!writtenMeanwhile(e)) throw e
    throw new FleetKillSwitchRefused(
      `the fleet kill switch was written by someone else meanwhile; read it (haltd fleet status) and activate again if still needed (${e instanceof Error ? e.message : String(e)})`,
    )
  }
  return value as ActiveFleetKillSwitch
}

/**
 * Reset it: refused when it is not set. Each engine it latched records the reset and trades again.
 * A value no haltd wrote is reset over (it may hide a switch that is set).
 */
export async function resetFleetKillSwitch(control: KV, input: Issued & { reason: string }): Promise<FleetKillSwitch> {
  const now = await readFleetKillSwitch(control)
  if (now?.value.state !== 'active' && now?.value.state !== 'unreadable') throw new FleetKillSwitchRefused('the fleet kill switch is not set')
  const resets = now.value.state === 'active' ? { resets: now.value.id } : {}
  const value = signedBy(control, {
    state: 'reset',
    id: randomUUID(),
    ...resets,
    reason: input.reason,
    at: new Date().toISOString(),
    ...issuer(input),
    after: now.revision,
  })
  await control.update(KILL_SWITCH_KEY, JSON.stringify(value), now.revision)
  return value
}

function issuer(input: Issued): z.infer<typeof Issuer> {
  return { by: input.by, host: input.host, ...(input.instance ? { instance: input.instance } : {}) }
}

function checked(value: unknown): FleetKillSwitch {
  const parsed = FleetKillSwitch.safeParse(value)
  if (!parsed.success) {
    const first = parsed.error.issues[0]
    throw new FleetKillSwitchRefused(`${first?.path.join('.') || 'value'}: ${first?.message ?? 'invalid'}`)
  }
  return parsed.data
}

/** The value checked, and signed where the bucket's handle has the fleet key. */
function signedBy(control: KV, value: unknown): FleetKillSwitch {
  return signed(checked(value), fleetKeyOf(control))
}

/** Whether a write was refused because the key's entry is no longer the one it was to be written over (compare-and-set). */
const writtenMeanwhile = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | undefined)?.code
  return code === JetStreamApiCodes.StreamWrongLastSequence || code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
}

/**
 * The revision of the key's entry just before `revision` (a value, a delete or a purge), 0 when
 * there is none, undefined when the bucket no longer keeps it (more than its history was written since).
 */
export async function previousRevision(control: KV, revision: number): Promise<number | undefined> {
  const kept: number[] = []
  for await (const e of await control.history({ key: KILL_SWITCH_KEY })) kept.push(e.revision)
  const before = kept.filter((r) => r < revision)
  if (before.length > 0) return Math.max(...before)
  // nothing kept before it while the history is full: what stood before it was pushed out
  return kept.length >= (await control.status()).history ? undefined : 0
}

/**
 * An activation at `revision` as it stands where it was written: one signed over another entry
 * than the one before it now (`after`) is an earlier activation written again, whatever the key's
 * kept history still shows of it (a flood pushes the original and its reset out), and is read as a
 * value no haltd wrote. A reset written again is `replayOf`'s and the engine's to judge (it
 * releases only the activation it names, or one older than itself); values from earlier builds
 * carry no `after` and are taken as they are. `previous` is `previousRevision`'s answer.
 */
export function placedAt(ks: FleetKillSwitch, revision: number, previous: number | undefined): FleetKillSwitch | UnreadableFleetKillSwitch {
  if (ks.state !== 'active' || ks.after === undefined || ks.after === previous) return ks
  if (previous === undefined)
    return { state: 'unreadable', revision, why: `what stood before activation ${ks.id} is no longer kept, so it cannot be told from a replay` }
  return {
    state: 'unreadable',
    revision,
    why: `activation ${ks.id} was written over revision ${ks.after}, and this copy stands over revision ${previous}: a replay, not a new activation`,
  }
}

/** `placedAt`, asking the bucket what stands before `revision` where the value says what should. */
export async function placed(
  control: KV,
  ks: FleetKillSwitch | UnreadableFleetKillSwitch,
  revision: number,
): Promise<FleetKillSwitch | UnreadableFleetKillSwitch> {
  if (ks.state !== 'active' || ks.after === undefined) return ks
  return placedAt(ks, revision, await previousRevision(control, revision))
}
