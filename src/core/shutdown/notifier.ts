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

export type DeliveryOutcome = { sink: string; ok: boolean; error?: string }

/** The port the shutdown and the daemon call. Never rejects, never outlasts its budget. */
export interface Notifier {
  notify(notification: Notification): Promise<DeliveryOutcome[]>
}
