/**
 * Failures the fake venue can be told to produce on a route (`'POST /fapi/v1/order'`, or
 * `'* /api/v3/openOrders'` for any method), for the next `times` requests or until cleared.
 */
export type Fault =
  /** Any status with a body, e.g. 429 with Binance's JSON or 503 with an HTML page. */
  | { kind: 'status'; status: number; body: string; contentType: string; headers?: Record<string, string> }
  /** Never answer; the socket stays open until the client gives up. */
  | { kind: 'hang' }
  /** Process the request for real (an order is accepted), then destroy the socket unanswered. */
  | { kind: 'lose-response' }
  /** Process the request for real (an order is accepted), then never answer: the caller may die waiting. */
  | { kind: 'process-then-hang' }

const json = (status: number, code: number, msg: string): Fault => ({
  kind: 'status',
  status,
  body: JSON.stringify({ code, msg }),
  contentType: 'application/json;charset=UTF-8',
})

const MAINTENANCE_PAGE =
  '<!DOCTYPE html><html><head><title>Binance - System Maintenance</title></head>' +
  '<body><h1>System maintenance</h1><p>Binance is upgrading its systems. Trading resumes shortly.</p></body></html>'

export const faults = {
  /** HTTP 429 with Binance's body: "Too many requests"; with `retryAfterS`, the `Retry-After` header Binance sends with it. */
  rateLimited: (o: { retryAfterS?: number } = {}): Fault => ({
    ...json(429, -1003, 'Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute.'),
    ...(o.retryAfterS === undefined ? {} : { headers: { 'retry-after': String(o.retryAfterS) } }),
  }),
  /** HTTP 418: the IP ban Binance gives a client that went on after 429s, its end in the body. */
  banned: (untilMs: number): Fault =>
    json(418, -1003, `Way too many requests; IP(127.0.0.1) banned until ${untilMs}. Please use the websocket for live updates to avoid bans.`),
  /** HTTP 503 with an HTML page, as a load balancer answers during an outage. */
  unavailable: (): Fault => ({ kind: 'status', status: 503, body: '<html><body><h1>503 Service Unavailable</h1></body></html>', contentType: 'text/html' }),
  /** HTTP 500 with Binance's "unknown error" body. */
  internalError: (): Fault => json(500, -1000, 'An unknown error occurred while processing the request.'),
  /** HTTP 200 with a maintenance HTML page instead of JSON. */
  maintenancePage: (): Fault => ({ kind: 'status', status: 200, body: MAINTENANCE_PAGE, contentType: 'text/html' }),
  /** HTTP 200 with an empty body. */
  emptyBody: (): Fault => ({ kind: 'status', status: 200, body: '', contentType: 'application/json' }),
  /** HTTP 200 with `{}`. */
  emptyObject: (): Fault => ({ kind: 'status', status: 200, body: '{}', contentType: 'application/json' }),
  /** Binance's answer for an order it does not know (-2011 on cancel). */
  unknownOrder: (): Fault => json(400, -2011, 'Unknown order sent.'),
  /** A clock-skew refusal: -1021. */
  timestampOutside: (): Fault => json(400, -1021, 'Timestamp for this request is outside of the recvWindow.'),
  hang: (): Fault => ({ kind: 'hang' }),
  loseResponse: (): Fault => ({ kind: 'lose-response' }),
  processThenHang: (): Fault => ({ kind: 'process-then-hang' }),
  error: json,
}

type Armed = { fault: Fault; remaining: number }

export class FaultSwitchboard {
  private readonly armed = new Map<string, Armed>()
  /** How many times each route was hit (after routing, before any fault), e.g. `hits('POST /api/v3/order')`. */
  private readonly counts = new Map<string, number>()
  /** Every routed request in arrival order, as `METHOD /path`. */
  readonly arrivals: string[] = []

  inject(route: string, fault: Fault, times = Number.POSITIVE_INFINITY): void {
    if (!/^(\*|GET|POST|PUT|DELETE) \//.test(route)) throw new Error(`fault route must look like 'POST /api/v3/order', got '${route}'`)
    this.armed.set(route, { fault, remaining: times })
  }

  clear(route?: string): void {
    if (route === undefined) this.armed.clear()
    else this.armed.delete(route)
  }

  hits(route: string): number {
    return this.counts.get(route) ?? 0
  }

  /** Counts the hit and returns the fault to apply, if any. */
  take(method: string, path: string): Fault | undefined {
    const route = `${method} ${path}`
    this.counts.set(route, (this.counts.get(route) ?? 0) + 1)
    this.arrivals.push(route)
    for (const key of [route, `* ${path}`]) {
      const a = this.armed.get(key)
      if (!a) continue
      a.remaining--
      if (a.remaining <= 0) this.armed.delete(key)
      return a.fault
    }
    return undefined
  }
}
