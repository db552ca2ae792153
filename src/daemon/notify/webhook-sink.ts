import { hostname } from 'node:os'
import { HaltdError } from '../../events/errors.js'
import type { Notification, NotificationSink } from './notifier.js'

export type WebhookSinkOptions = {
  name?: string
  url: string
  /** Per attempt. */
  timeoutMs?: number
  /** Attempts after the first, for network errors, timeouts, 429 and 5xx. */
  retries?: number
  backoffMs?: number
  headers?: Record<string, string>
}

export class WebhookFailed extends HaltdError {
  constructor(
    readonly sink: string,
    message: string,
    readonly status?: number,
  ) {
    super('WEBHOOK_FAILED', `${sink}: ${message}`)
  }
}

/**
 * The JSON body: `text` is what Slack (and Mattermost, Discord's /slack endpoint, most chat
 * webhooks) shows; the rest is there for receivers that read structure.
 */
export function webhookBody(n: Notification, host = hostname()): Record<string, unknown> {
  const icon = n.severity === 'critical' ? ':rotating_light:' : n.severity === 'warning' ? ':warning:' : ':information_source:'
  return {
    text: `${icon} haltd@${host}: ${n.text}`,
    topic: n.topic,
    severity: n.severity ?? 'info',
    host,
    fields: n.fields ?? {},
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const t = setTimeout(resolve, ms)
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        reject(signal.reason)
      },
      { once: true },
    )
  })

/** POSTs each notification as JSON, with a timeout per attempt and a bounded number of retries. */
export function webhookSink(options: WebhookSinkOptions): NotificationSink {
  const name = options.name ?? 'webhook'
  const timeoutMs = options.timeoutMs ?? 3_000
  const retries = options.retries ?? 2
  const backoffMs = options.backoffMs ?? 250
  return {
    name,
    async send(n, signal) {
      const body = JSON.stringify(webhookBody(n))
      let last: unknown
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0) await sleep(backoffMs * 2 ** (attempt - 1), signal)
        try {
          const response = await fetch(options.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'haltd', ...options.headers },
            body,
            signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
          })
          await response.arrayBuffer().catch(() => undefined)
          if (response.ok) return
          last = new WebhookFailed(name, `HTTP ${response.status}`, response.status)
          if (response.status !== 429 && response.status < 500) throw last
        } catch (e) {
          if (e instanceof WebhookFailed && e.status !== undefined && e.status !== 429 && e.status < 500) throw e
          if (signal.aborted) throw new WebhookFailed(name, `gave up: ${(signal.reason as Error)?.message ?? 'aborted'}`)
          last = e
        }
      }
      // The URL is often itself the secret (Slack): the error names the sink, never the URL.
      throw last instanceof WebhookFailed ? last : new WebhookFailed(name, `${retries + 1} attempts failed: ${describe(last)}`)
    },
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : undefined
    return e.name === 'TimeoutError' ? 'timed out' : (code ?? e.message)
  }
  return String(e)
}
