import type { EventLog } from '../event-log.js'

/**
 * What haltd tells people: a shutdown announced or finished, an emergency, the kill switch.
 * `text` is the line a person reads; `fields` the details a receiver may lay out.
 */
export type Notification = {
  topic: string
  text: string
  severity?: 'info' | 'warning' | 'critical'
  fields?: Record<string, string | number | boolean>
}

/** One way out (a log, a webhook). `send` rejects on failure and stops when `signal` aborts. */
export interface NotificationSink {
  readonly name: string
  send(notification: Notification, signal: AbortSignal): Promise<void>
}

export type SinkOutcome = { sink: string; ok: boolean; error?: string }

/** The port the shutdown and the daemon call. Never rejects, never outlasts its budget. */
export interface Notifier {
  notify(notification: Notification): Promise<SinkOutcome[]>
}

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
        sinks.map(async (sink): Promise<SinkOutcome> => {
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
            log.append({ type: 'notification.sent', data: { sink: o.sink.slice(0, 100), topic: notification.topic.slice(0, 100), ok: o.ok, error: o.error?.slice(0, 2000) } })
          } catch {
            // The record of a notification is not worth failing the step that sent it.
          }
        }
      }
      return outcomes
    },
  }
}
