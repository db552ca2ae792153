import { HaltdError } from '../events/errors.js'

export type AdminTarget = { url: string; token: string }

export class AdminUnreachable extends HaltdError {
  constructor(
    readonly url: string,
    detail: string,
  ) {
    super('ADMIN_UNREACHABLE', `cannot reach the admin API at ${url}: ${detail}`)
  }
}

export type AdminReply = { status: number; body: unknown }

/** One admin API call; transport failures become `AdminUnreachable`, HTTP errors come back as replies. */
export async function adminRequest(target: AdminTarget, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 10_000): Promise<AdminReply> {
  let response: Response
  try {
    response = await fetch(new URL(path, target.url), {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (e) {
    throw new AdminUnreachable(target.url, transportDetail(e))
  }
  const text = await response.text()
  let parsed: unknown = text
  if ((response.headers.get('content-type') ?? '').includes('json')) {
    try {
      parsed = JSON.parse(text)
    } catch {
      // keep the text
    }
  }
  return { status: response.status, body: parsed }
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout, a bad URL) is in its cause. */
function transportDetail(e: unknown): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return 'no answer in time'
  let cause = (e as { cause?: unknown }).cause
  const nested = (cause as { errors?: unknown[] } | undefined)?.errors
  if (Array.isArray(nested) && nested.length) cause = nested[0]
  const c = cause as { code?: string; message?: string } | undefined
  return c?.code ?? c?.message ?? (e instanceof Error ? e.message : String(e))
}
