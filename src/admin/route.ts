import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import { problemsOf } from '../events/errors.js'
import type { Principal, Role } from './access.js'

/** What a handler answers: JSON unless a content type says otherwise, with any extra headers. */
export type Reply = {
  status: number
  body: unknown
  contentType?: string
  headers?: Record<string, string>
  /** A long answer written as it comes (the engine's order stream): the handler owns the response from here. */
  stream?: (res: ServerResponse) => void
}
/** A request that passed its checks: who asks (absent on the routes anyone may call). */
export type Call = { req: IncomingMessage; body: unknown; who: Principal | undefined }
/**
 * One method of one route: the roles it accepts (`anyone`: the page's assets and the login,
 * which need no credential), and what it does.
 */
export type Handler = { needs: readonly Role[] | 'anyone'; run: (call: Call) => Promise<Reply> }
export type Route = Partial<Record<'GET' | 'POST', Handler>>

/** A request that is refused with a 4xx and a body saying exactly why. */
export class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems?: { path: string; message: string }[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

export const json = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({ status, body, ...(headers ? { headers } : {}) })

/** The body read by its schema: none at all is an empty one; `null` is not an object and is said so. */
export function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body === undefined ? {} : body)
  if (!result.success) {
    const problems = problemsOf(result.error)
    throw new HttpRefusal(400, 'INVALID_BODY', `invalid body: ${problems.map((p) => `${p.path || '(body)'}: ${p.message}`).join('; ')}`, problems)
  }
  return result.data
}

/** The caller of a route that needs a role: the server authenticated it before `run`. */
export function caller(call: Call): Principal {
  if (!call.who) throw new Error('a route that needs a role was called without a caller')
  return call.who
}
