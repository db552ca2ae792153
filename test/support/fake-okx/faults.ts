import { faults as generic, type Fault } from '../fake-binance/faults.js'

const json = (status: number, code: string, msg: string): Fault => ({
  kind: 'status',
  status,
  body: JSON.stringify({ code, msg, data: [] }),
  contentType: 'application/json',
})

/**
 * What the fake OKX can be told to answer on a route (`'POST /api/v5/trade/cancel-batch-orders'`,
 * `'* /api/v5/trade/orders-pending'`), through the same switchboard as the fake Binance.
 */
export const okxFaults = {
  /** HTTP 429, 50011: OKX's answer to a client over an endpoint's rate limit. */
  rateLimited: (): Fault => json(429, '50011', 'Too Many Requests'),
  /** HTTP 503, 50001: the service (or the matching engine) is under maintenance. */
  maintenance: (): Fault => json(503, '50001', 'Service temporarily unavailable. Try again later'),
  /** HTTP 200, 50026: "system error, try again later". */
  systemError: (): Fault => json(200, '50026', 'System error. Try again later'),
  /** HTTP 200, 50004: the endpoint timed out; an order's fate is unknown. */
  endpointTimeout: (): Fault =>
    json(200, '50004', 'API endpoint request timeout (does not mean that the request was successful or failed, please check the request result).'),
  /** An HTML page from the load balancer during an outage. */
  unavailable: generic.unavailable,
  /** HTTP 200 with a maintenance page instead of JSON. */
  maintenancePage: generic.maintenancePage,
  emptyBody: generic.emptyBody,
  hang: generic.hang,
  loseResponse: generic.loseResponse,
  error: json,
}
