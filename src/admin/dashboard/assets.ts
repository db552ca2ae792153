import { readFileSync } from 'node:fs'
import type { Route } from '../route.js'

/**
 * The page's three files, plain HTML, CSS and JavaScript beside this module (the build copies
 * them next to the compiled one), read once at start. They hold no secret, so anyone may fetch
 * them; everything they show comes over the session's feed.
 */
const FILES = [
  ['/', 'page.html', 'text/html; charset=utf-8'],
  ['/ui/page.css', 'page.css', 'text/css; charset=utf-8'],
  ['/ui/page.js', 'page.js', 'text/javascript; charset=utf-8'],
] as const

/** Only the page's own files and connections: no inline script, no other origin, no framing. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

export function pageRoutes(): Record<string, Route> {
  const routes: Record<string, Route> = {}
  for (const [path, file, contentType] of FILES) {
    const body = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8')
    routes[path] = {
      GET: {
        needs: 'anyone',
        run: async () => ({ status: 200, body, contentType, headers: { 'content-security-policy': CSP, 'referrer-policy': 'no-referrer' } }),
      },
    }
  }
  return routes
}
