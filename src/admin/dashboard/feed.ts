import type { WebSocket } from 'ws'
import { z } from 'zod'
import type { EventLog } from '../../core/log/event-log.js'
import type { Envelope } from '../../events/envelope.js'
import type { DashboardView } from './view.js'
import type { FleetPanel } from './fleet-panel.js'

/** The view and, where this haltd is in a fleet, the fleet as last read. */
export type PageView = DashboardView & { fleet: FleetPanel | null }

/** One line of the page's event list: what happened, in a sentence's worth of fields. */
export type Brief = { seq: number; ts: number; type: string; text: string }

/**
 * Frames on `/ui/feed`: the whole view (built from the projections), the newest events and the
 * newest actions. Each frame replaces the last, so a frame the page never got costs nothing.
 */
/** `heartbeatMs`: the longest a page waits for a frame while all is well; past a few of those it says its view is stale. */
export type FeedFrame = { kind: 'view'; view: PageView; events: Brief[]; actions: Brief[]; heartbeatMs: number } | { kind: 'error'; message: string }

/** The feed's pace (`admin.feed` in the config). */
export const FeedConfig = z.strictObject({
  /** At most one frame this often while the log moves. */
  intervalMs: z.number().int().min(10).max(60_000).optional(),
  /** A frame at least this often while it does not (uptime, elapsed against the deadline). */
  heartbeatMs: z.number().int().min(100).max(600_000).optional(),
  /** Past this many unsent bytes on a page's socket a frame is skipped: the next one carries the newer view. */
  highWater: z
    .number()
    .int()
    .min(1_024)
    .max(64 * 1024 * 1024)
    .optional(),
  /**
   * The share of the event loop the feed may take: after a view that took `t` ms to build, the
   * next waits at least `t / share` (a large log slows the page's frames, never the daemon).
   */
  share: z.number().gt(0).max(1).optional(),
})
export type FeedOptions = z.output<typeof FeedConfig>

const EVENTS = 50
const ACTIONS = 30
/** Events the page reads as actions and steps: who asked for what, and how the shutdown goes. */
const ACTION =
  /^(shutdown\.(requested|escalated|completed|step-)|killswitch\.|drain\.|trading\.(paused|resumed)|deployments\.|run\.|handover\.|leadership\.|access\.)/
const FIELDS = [
  'venue',
  'symbol',
  'clientOrderId',
  'step',
  'phase',
  'name',
  'role',
  'route',
  'count',
  'to',
  'outcome',
  'mode',
  'action',
  'reason',
  'by',
  'origin',
  'error',
  'status',
] as const

export function brief(e: Envelope): Brief {
  const data = (e.data ?? {}) as Record<string, unknown>
  const parts: string[] = []
  for (const k of FIELDS) {
    const v = data[k]
    if (v === undefined || v === null || typeof v === 'object') continue
    parts.push(`${k}=${String(v)}`)
  }
  const text = parts.join(' ')
  return { seq: e.seq, ts: e.ts, type: e.type, text: text.length > 240 ? `${text.slice(0, 240)}…` : text }
}

/** The newest `size` items: pushed in O(1), trimmed in batches. */
function ring<T>(size: number) {
  let items: T[] = []
  return {
    push(item: T) {
      items.push(item)
      if (items.length > size * 2) items = items.slice(-size)
    },
    newest: () => items.slice(-size),
  }
}

/** What every page's feed did, for `/metrics`: frames sent, frames skipped for a page that was behind, the most left unsent. */
export type FeedStats = { sent: number; skipped: number; peakUnsentBytes: number }
export const feedStats = (): FeedStats => ({ sent: 0, skipped: 0, peakUnsentBytes: 0 })

/**
 * The page's live feed over one WebSocket. The log's subscriber only notes the event (two ring
 * pushes and a flag), inside the log's publish; a timer builds the view at most every
 * `intervalMs` (longer when a view is costly, see `share`) and only when the log moved, and skips
 * a frame while the socket has more than `highWater` unsent: a slow browser sees fewer frames,
 * the writer never waits for it.
 * Returns `flush`: one last frame now (the daemon is stopping: the page keeps the report).
 */
export function streamDashboard(
  ws: WebSocket,
  log: EventLog,
  view: () => PageView | Promise<PageView>,
  options: FeedOptions = {},
  stats: FeedStats = feedStats(),
): () => Promise<void> {
  const intervalMs = options.intervalMs ?? 150
  const heartbeatMs = options.heartbeatMs ?? 1_000
  const highWater = options.highWater ?? 1 << 18
  const share = options.share ?? 0.1
  let notBefore = 0
  const events = ring<Brief>(EVENTS)
  const actions = ring<Brief>(ACTIONS)
  let dirty = true
  let lastSent = 0
  let building = false
  const note = (e: Envelope) => {
    try {
      const b = brief(e)
      events.push(b)
      if (ACTION.test(e.type)) actions.push(b)
      dirty = true
    } catch {
      // a line the page cannot show is not worth a fault in the log's publish
    }
  }
  // the recent past first (its actions are what an operator who just opened the page needs)
  const unsubscribe = log.subscribe(Math.max(1, log.committedSeq - 500), note)
  const send = async (force: boolean) => {
    if (building || ws.readyState !== ws.OPEN) return
    const now = Date.now()
    if (!force && (now < notBefore || (!dirty && now - lastSent < heartbeatMs))) return
    if (!force && ws.bufferedAmount > highWater) {
      // the page is behind: this frame is dropped, the next one carries the newer view
      stats.skipped++
      return
    }
    building = true
    dirty = false
    try {
      const started = performance.now()
      const cpuBefore = process.cpuUsage()
      const built = await view()
      const waitMs = buildCost(performance.now() - started, process.cpuUsage(cpuBefore)) / share
      notBefore = Date.now() + waitMs
      // the page hears how long the next frame may take, so a costly view is not called stale
      const frame: FeedFrame = {
        kind: 'view',
        view: built,
        events: events.newest(),
        actions: actions.newest(),
        heartbeatMs: Math.max(heartbeatMs, Math.ceil(waitMs)),
      }
      if (ws.readyState === ws.OPEN) {
        ws.send(JSON.stringify(frame))
        stats.sent++
        if (ws.bufferedAmount > stats.peakUnsentBytes) stats.peakUnsentBytes = ws.bufferedAmount
      }
    } catch (e) {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ kind: 'error', message: e instanceof Error ? e.message : String(e) } satisfies FeedFrame))
    } finally {
      lastSent = Date.now()
      building = false
    }
  }
  const timer = setInterval(() => void send(false), intervalMs)
  timer.unref()
  ws.on('close', () => {
    clearInterval(timer)
    unsubscribe()
  })
  ws.on('message', () => ws.close(1003, 'this socket only sends'))
  void send(true)
  return () => send(true)
}

/**
 * What a view's build cost the process: its wall time, but no more than the CPU the process
 * spent meanwhile. A process frozen through a build (SIGSTOP, a paused VM) did no work then, and
 * taking that time as the build's cost held the next frame back ten times as long, the page stale.
 */
function buildCost(wallMs: number, cpu: NodeJS.CpuUsage): number {
  return Math.min(wallMs, (cpu.user + cpu.system) / 1_000)
}

/**
 * One view for every open page: built again only once the log has moved (or a second has
 * passed, for the clocks in it), however many pages ask.
 */
export function sharedView<V>(build: () => V | Promise<V>, seq: () => number): () => Promise<V> {
  let last: { seq: number; at: number; view: Promise<V> } | undefined
  return () => {
    const now = Date.now()
    if (last && last.seq === seq() && now - last.at < 1_000) return last.view
    const view = Promise.resolve(build())
    last = { seq: seq(), at: now, view }
    // a failed build is not kept: the next ask tries again
    view.catch(() => {
      last = undefined
    })
    return view
  }
}
