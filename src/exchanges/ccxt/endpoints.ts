import { z } from 'zod'

/** An endpoint's base URL as ccxt keeps it in `exchange.urls` (REST or WebSocket). */
const EndpointUrl = z.url({ protocol: /^(https?|wss?)$/, error: 'an http(s) or ws(s) URL' })

export type UrlTree = { [key: string]: string | UrlTree }

/**
 * Endpoints to put over an exchange's own `urls`, in the same shape: `{ "api": { "fapiPrivate":
 * "https://…" } }` for Binance USD-M, `{ "api": { "rest": "https://…" } }` for OKX.
 */
export const UrlOverrides: z.ZodType<UrlTree> = z.lazy(() =>
  z.record(z.string(), z.union([EndpointUrl, UrlOverrides], { error: 'an http(s) or ws(s) URL, or an object of them keyed as in ccxt’s urls' })),
)

/**
 * Puts `overrides` over `exchange.urls`, leaf by leaf. Only endpoints the exchange has can be
 * replaced: a path it does not know (a typo, another exchange's key) is a problem, named with
 * the keys the exchange has there, rather than a URL ccxt would never use.
 */
export function applyUrlOverrides(exchange: { id: string; urls: unknown }, overrides: UrlTree): string[] {
  const problems: string[] = []
  const walk = (target: Record<string, unknown>, patch: UrlTree, path: string): void => {
    for (const [key, value] of Object.entries(patch)) {
      const here = `${path}.${key}`
      const current = target[key]
      const fits = typeof value === 'string' ? typeof current === 'string' : typeof current === 'object' && current !== null
      if (!fits) {
        const known = Object.keys(target).filter((k) => typeof target[k] === 'string' || (typeof target[k] === 'object' && target[k] !== null))
        problems.push(
          current === undefined
            ? `ccxt ${exchange.id} has no ${here} (it has ${known.join(', ') || 'nothing'} there)`
            : `ccxt ${exchange.id}'s ${here} is ${typeof current === 'string' ? 'a URL' : 'a group of URLs'}, not ${typeof value === 'string' ? 'a URL' : 'a group'}`,
        )
        continue
      }
      if (typeof value === 'string') target[key] = value
      else walk(current as Record<string, unknown>, value, here)
    }
  }
  const urls = exchange.urls
  if (typeof urls !== 'object' || urls === null) return [`ccxt ${exchange.id} has no urls to override`]
  walk(urls as Record<string, unknown>, overrides, 'urls')
  return problems
}
