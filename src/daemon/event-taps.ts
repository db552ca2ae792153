import type { Envelope } from '../events/envelope.js'
import type { EventLog } from '../core/log/event-log.js'
import type { Logger } from './logger.js'
import type { Notifier } from './notify/index.js'

export type EventTaps = {
  log: EventLog
  /** The strategies hear about their own orders. */
  strategies: { onLogEvent(e: Envelope): Promise<unknown> }
  /** The risk monitor re-checks its triggers (wire it after the projection runner). */
  risk: { observe(e: Envelope): void }
  notifier: Notifier
  logger: Logger
  onError: (e: unknown) => void
  /** An operator reset the kill switch: strategies held back by it may trade again. */
  onKillSwitchReset: () => void
  /** Stop refreshing the dead man's switches. */
  stopSwitchRefresh: () => void
  /** Last: the embedder's `event`, once everything above saw it. */
  emit: (e: Envelope) => void
}

export type Tapped = {
  unsubscribe: () => void
  /**
   * Resolves once every notification the taps sent has its outcome (each recorded as
   * `notification.sent`): the run waits for it before it ends, so a kill switch latched just
   * before the exit is still announced, retries included. Bounded by the notifier's budget.
   */
  notificationsSettled: () => Promise<void>
}

/**
 * Each new event: strategies hear about their orders, risk re-checks, people are told, a shutdown
 * step becomes a log line.
 */
export function tapEvents(taps: EventTaps): Tapped {
  const { log, notifier, logger, onError } = taps
  const sending = new Set<Promise<unknown>>()
  const unsubscribe = log.subscribe(log.lastSeq + 1, (e) => {
    taps.strategies.onLogEvent(e).catch(onError)
    taps.risk.observe(e)
    if (e.type === 'killswitch.activated' || e.type === 'killswitch.reset') {
      const d = e.data as { reason: string; action?: string; origin: string; by?: string }
      const text = e.type === 'killswitch.activated' ? `kill switch ACTIVATED (${d.action}): ${d.reason}` : `kill switch reset: ${d.reason}`
      const sent: Promise<unknown> = new Promise<void>((resolve) => queueMicrotask(resolve))
        .then(() =>
          notifier.notify({
            topic: e.type,
            text,
            severity: e.type === 'killswitch.activated' ? 'critical' : 'warning',
            fields: { origin: d.origin, ...(d.by ? { by: d.by } : {}) },
          }),
        )
        .catch(onError)
        .finally(() => sending.delete(sent))
      sending.add(sent)
    }
    if (e.type.startsWith('shutdown.step-')) logStep(logger, e)
    if (e.type === 'killswitch.reset') queueMicrotask(taps.onKillSwitchReset)
    // The emergency path arms its own, shorter countdown: a refresh must not lengthen it again.
    if (e.type === 'shutdown.escalated' || (e.type === 'shutdown.requested' && (e.data as { mode: string }).mode === 'emergency')) taps.stopSwitchRefresh()
    taps.emit(e)
  })
  return {
    unsubscribe,
    notificationsSettled: async () => {
      while (sending.size > 0) await Promise.allSettled([...sending])
    },
  }
}

/** Each step of a shutdown as a log line too: what an operator tails while it runs. */
function logStep(logger: Logger, e: Envelope): void {
  const d = e.data as { step: number; name: string; error?: string; reason?: string; budgetMs?: number }
  const what = e.type.slice('shutdown.step-'.length)
  const line = `shutdown step ${d.step} ${d.name}: ${what}${d.error ? ` (${d.error})` : d.reason ? ` (${d.reason})` : ''}`
  if (what === 'failed' || what === 'timed-out') logger.warn({ step: d.step }, line)
  else logger.info({ step: d.step }, line)
}
