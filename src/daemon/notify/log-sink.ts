import type { Logger } from 'pino'
import type { NotificationSink } from './notifier.js'

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
