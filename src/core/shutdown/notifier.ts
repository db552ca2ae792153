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

/** What a sink that retries tells the notifier as it goes, so the outcome can say what each attempt met. */
export type DeliveryProgress = {
  /** An attempt starts. */
  attempt(): void
  /** The attempt just made failed, and why (it may be retried). */
  failed(why: string): void
}

/** One way out (a log, a webhook). `send` rejects on failure and stops when `signal` aborts. */
export interface NotificationSink {
  readonly name: string
  send(notification: Notification, signal: AbortSignal, progress?: DeliveryProgress): Promise<void>
}

/**
 * How one sink's delivery ended: `delivered`, `failed` (after `attempts`), or `budget-exhausted`
 * (the notifier's budget ran out while the sink was still trying). The daemon's notifier always
 * says which and how many attempts; a notifier that cannot tell leaves them out.
 */
export type DeliveryOutcome = {
  sink: string
  ok: boolean
  error?: string
  outcome?: 'delivered' | 'failed' | 'budget-exhausted'
  attempts?: number
  /** What the attempts that failed met, in order (a delivery after a retry names the failures before it). */
  failures?: string[]
}

/** The port the shutdown and the daemon call. Never rejects, never outlasts its budget. */
export interface Notifier {
  notify(notification: Notification): Promise<DeliveryOutcome[]>
}
