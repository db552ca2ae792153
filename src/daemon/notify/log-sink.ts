import type { Logger } from 'pino'
import { describeOutcome, type Delivered, type Notification, type NotificationSink } from './notifier.js'
import { sayOnStderr } from '../stderr.js'

/** Every notification as a log line: always configured, so the log shows what was announced. */
export function logSink(logger: Logger): NotificationSink {
  return {
    name: 'log',
    async send(n) {
      const level = n.severity === 'critical' ? 'error' : n.severity === 'warning' ? 'warn' : 'info'
      logger[level]({ notification: n.topic, ...n.fields }, n.text)
    },
  }
}

/**
 * Where a notification's outcome goes when the event log cannot take it (after a log fault, the
 * notification that announces it included): the process log and stderr, one line each.
 */
export function outcomeToProcessLog(logger: Logger) {
  return (o: Delivered, n: Notification, why: string): void => {
    const line = `${describeOutcome(o, n.topic)}; not in the event log (${why})`
    logger[o.ok ? 'warn' : 'error']({ notification: n.topic, sink: o.sink, outcome: o.outcome, attempts: o.attempts }, line)
    sayOnStderr(line)
  }
}
