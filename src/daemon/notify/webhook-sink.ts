import { hostname } from 'node:os'
import { HaltdError } from '../../events/errors.js'
import { timeoutSignal } from '../../events/clock.js'
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

/**
 * How long a `Retry-After` header asks to wait, in ms: delay-seconds or an HTTP date (RFC 9110
 * 10.2.3). Undefined when absent or unreadable; a date in the past is no wait.
 */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  if (header === null || header === undefined) return undefined
  const value = header.trim()
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

const retryable = (status: number) => status === 429 || status >= 500

/**
 * POSTs each notification as JSON, with a timeout per attempt and a bounded number of retries
 * (network errors, timeouts, 429, 5xx). A `Retry-After` is honoured when it asks for longer than
 * the backoff; the notifier's budget (the signal) bounds the whole.
 */
export function webhookSink(options: WebhookSinkOptions): NotificationSink {
  const name = options.name ?? 'webhook'
  const timeoutMs = options.timeoutMs ?? 3_000
  const retries = options.retries ?? 2
  const backoffMs = options.backoffMs ?? 250
  return {
    name,
    async send(n, signal, progress) {
      const body = JSON.stringify(webhookBody(n))
      let last: unknown
      let wait = 0
      for (let i = 0; i <= retries; i++) {
        if (i > 0) await sleep(Math.max(backoffMs * 2 ** (i - 1), wait), signal).catch(() => giveUp(name, signal, last))
        wait = 0
        progress?.attempt()
        try {
          const response = await fetch(options.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'haltd', ...options.headers },
            body,
            signal: AbortSignal.any([signal, timeoutSignal(timeoutMs)]),
          })
          await response.arrayBuffer().catch(() => undefined)
          if (response.ok) return
          wait = retryAfterMs(response.headers.get('retry-after')) ?? 0
          last = new WebhookFailed(name, `HTTP ${response.status}${wait > 0 ? ` (Retry-After ${Math.ceil(wait / 1000)} s)` : ''}`, response.status)
          progress?.failed(describe(last))
          if (!retryable(response.status)) throw last
        } catch (e) {
          if (e === last) throw e
          progress?.failed(describe(e))
          if (signal.aborted) giveUp(name, signal, last ?? e)
          last = e
        }
      }
      // The URL is often itself the secret (Slack): the error names the sink, never the URL.
      throw new WebhookFailed(name, `${retries + 1} attempts failed, the last: ${describe(last)}`)
    },
  }
}

function giveUp(name: string, signal: AbortSignal, last: unknown): never {
  const why = (signal.reason as Error)?.message ?? 'aborted'
  throw new WebhookFailed(name, `gave up: ${why}${last === undefined ? '' : `; the last attempt: ${describe(last)}`}`)
}

function describe(e: unknown): string {
  if (e instanceof WebhookFailed) return e.message.slice(e.sink.length + 2)
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : undefined
    return e.name === 'TimeoutError' ? 'timed out' : (code ?? e.message)
  }
  return String(e)
}
