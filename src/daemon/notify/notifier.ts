import type { EventLog } from '../../core/log/event-log.js'
import type { Notification, NotificationSink, Notifier, DeliveryOutcome } from '../../core/shutdown/notifier.js'

export type { Notification, NotificationSink, Notifier, DeliveryOutcome }

export type NotifierOptions = {
  sinks: readonly NotificationSink[]
  /** All sinks run in parallel; whatever has not finished by then is abandoned and reported. */
  budgetMs: number
  /** Each outcome is recorded as `notification.sent`. */
  log?: EventLog
  /**
   * An outcome the log could not take (no log, a closed one, or one that refuses writes after a
   * fault): the caller keeps it elsewhere, the process log and stderr in the daemon.
   */
  onUnrecorded?: (outcome: Delivered, notification: Notification, why: string) => void
}

/** A notifier whose deliveries in flight can be waited for: the run does not end before they do. */
export type TrackedNotifier = Notifier & {
  /** Resolves once every notification sent so far has its outcome recorded. Bounded by the budget. */
  settled(): Promise<void>
}

/** An outcome as this notifier reports it: always which, and how many attempts. */
export type Delivered = Required<Pick<DeliveryOutcome, 'outcome' | 'attempts' | 'failures'>> & DeliveryOutcome

const FAILURES_KEPT = 10

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** What `notification.sent` records of one outcome. */
export function notificationSent(o: Delivered, topic: string) {
  return {
    sink: o.sink.slice(0, 100),
    topic: topic.slice(0, 100),
    ok: o.ok,
    ...(o.error !== undefined ? { error: o.error.slice(0, 2000) } : {}),
    outcome: o.outcome,
    attempts: o.attempts,
    ...(o.failures.length > 0 ? { failedAttempts: o.failures.join('; ').slice(0, 2000) } : {}),
  }
}

/** One line for an operator: how a notification's delivery ended. */
export function describeOutcome(o: Delivered, topic: string): string {
  const tries = `${o.attempts} attempt${o.attempts === 1 ? '' : 's'}`
  if (o.outcome === 'delivered') return `notification ${topic} delivered by ${o.sink} (${tries}${o.failures.length ? `; ${o.failures.join('; ')}` : ''})`
  if (o.outcome === 'budget-exhausted') return `notification ${topic} NOT delivered by ${o.sink}: the notification budget ran out after ${tries} (${o.error})`
  return `notification ${topic} NOT delivered by ${o.sink}: failed after ${tries} (${o.error})`
}

export function createNotifier(options: NotifierOptions): TrackedNotifier {
  const { sinks, budgetMs, log } = options
  const sending = new Set<Promise<unknown>>()

  const deliver = async (sink: NotificationSink, notification: Notification, signal: AbortSignal): Promise<Delivered> => {
    let attempts = 0
    const failures: string[] = []
    const progress = {
      attempt: () => void attempts++,
      failed: (why: string) => void (failures.length < FAILURES_KEPT && failures.push(`attempt ${attempts}: ${why}`)),
    }
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason)
      signal.addEventListener('abort', () => reject(signal.reason), { once: true })
    })
    aborted.catch(() => {})
    try {
      // A sink that ignores the signal still cannot hold the caller past the budget.
      await Promise.race([sink.send(notification, signal, progress), aborted])
      return { sink: sink.name, ok: true, outcome: 'delivered', attempts: Math.max(1, attempts), failures }
    } catch (e) {
      const outcome = signal.aborted ? 'budget-exhausted' : 'failed'
      return { sink: sink.name, ok: false, error: messageOf(e), outcome, attempts: Math.max(signal.aborted ? 0 : 1, attempts), failures }
    }
  }

  const record = (outcomes: Delivered[], notification: Notification) => {
    for (const o of outcomes) {
      let why: string | undefined
      if (!log) why = 'no event log'
      else if (log.isClosed || log.readonly) why = 'the event log is closed'
      else {
        try {
          log.append({ type: 'notification.sent', data: notificationSent(o, notification.topic) })
        } catch (e) {
          why = `the event log refused it: ${messageOf(e)}`
        }
      }
      if (why !== undefined) options.onUnrecorded?.(o, notification, why)
    }
  }

  const notify = async (notification: Notification): Promise<Delivered[]> => {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new Error(`notification budget of ${budgetMs} ms spent`)), budgetMs)
    timer.unref?.()
    const outcomes = await Promise.all(sinks.map((sink) => deliver(sink, notification, controller.signal)))
    clearTimeout(timer)
    try {
      record(outcomes, notification)
    } catch {
      // The record of a notification is not worth failing the step that sent it.
    }
    return outcomes
  }

  return {
    notify(notification) {
      const sent = notify(notification)
      sending.add(sent)
      void sent.finally(() => sending.delete(sent))
      return sent
    },
    async settled() {
      while (sending.size > 0) await Promise.allSettled([...sending])
    },
  }
}
