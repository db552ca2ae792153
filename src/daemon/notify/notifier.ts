import type { EventLog } from '../../core/log/event-log.js'
import type { Notification, NotificationSink, Notifier, DeliveryOutcome } from '../../core/shutdown/notifier.js'

export type { Notification, NotificationSink, Notifier, DeliveryOutcome }

export type NotifierOptions = {
  sinks: readonly NotificationSink[]
  /** All sinks run in parallel; whatever has not finished by then is abandoned and reported. */
  budgetMs: number
  /** Each outcome is recorded as `notification.sent`. */
  log?: EventLog
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

export function createNotifier(options: NotifierOptions): Notifier {
  const { sinks, budgetMs, log } = options
  return {
    async notify(notification) {
      const controller = new AbortController()
      const timer = setTimeout(() => controller.abort(new Error(`notification budget of ${budgetMs} ms spent`)), budgetMs)
      timer.unref?.()
      const outcomes = await Promise.all(
        sinks.map(async (sink): Promise<DeliveryOutcome> => {
          const aborted = new Promise<never>((_, reject) => {
            if (controller.signal.aborted) reject(controller.signal.reason)
            controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true })
          })
          aborted.catch(() => {})
          try {
            // A sink that ignores the signal still cannot hold the caller past the budget.
            await Promise.race([sink.send(notification, controller.signal), aborted])
            return { sink: sink.name, ok: true }
          } catch (e) {
            return { sink: sink.name, ok: false, error: messageOf(e) }
          }
        }),
      )
      clearTimeout(timer)
      if (log && !log.isClosed && !log.readonly) {
        for (const o of outcomes) {
          try {
            log.append({
              type: 'notification.sent',
              data: { sink: o.sink.slice(0, 100), topic: notification.topic.slice(0, 100), ok: o.ok, error: o.error?.slice(0, 2000) },
            })
          } catch {
            // The record of a notification is not worth failing the step that sent it.
          }
        }
      }
      return outcomes
    },
  }
}
