import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { hashToken } from '../../src/admin/access.js'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { SimExchange } from '../../src/exchanges/sim/index.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

/**
 * examples/order-entry-curl.md, run as written: each shell block of the walk-through goes to bash
 * against a real daemon (its URL and socket path put in for the documented ones), and what it
 * prints is what the walk-through says it prints.
 */

const TOKEN = 'curl-walkthrough-token-0123456789'
const DOC = 'examples/order-entry-curl.md'
const open: Haltd[] = []
afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

/** The shell blocks of each numbered section (`## 2. Submit` → 2). */
function blocks(): Map<number, string[]> {
  const out = new Map<number, string[]>()
  let section = 0
  const lines = readFileSync(DOC, 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (\d+)\./.exec(lines[i]!)
    if (heading) section = Number(heading[1])
    if (lines[i] !== '```sh') continue
    const body: string[] = []
    for (i++; lines[i] !== '```'; i++) body.push(lines[i]!)
    out.set(section, [...(out.get(section) ?? []), body.join('\n')])
  }
  return out
}

/** One command per line, a trailing backslash joining the next. */
const commands = (block: string) =>
  block
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))

const hasNc = spawnSync('sh', ['-c', 'command -v nc'], { encoding: 'utf8' }).status === 0

describe('the curl walk-through of order entry', { timeout: 30_000 }, () => {
  it('does what it says, block by block, over HTTP and the Unix socket', async () => {
    const dir = tempDir('haltd-curl-')
    const socketPath = join(dir, 'entry.sock')
    const venue = new SimExchange({
      venue: 'binance-sim',
      seed: 3,
      mode: 'derivatives',
      symbols: [{ symbol: 'BTC/USDT:USDT', mid: 70_000, amountStep: 0.001, priceStep: 0.5 }],
    })
    const h = await createHaltd(
      {
        db: { path: join(dir, 'events.db') },
        admin: { port: 0, users: [{ name: 'pybot', role: 'engine', tokenHash: hashToken(TOKEN) }] },
        orderEntry: { socketPath },
      },
      { gateways: [venue], logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} },
    )
    open.push(h)
    const url = h.admin!.url
    // asynchronously: the daemon answering runs in this very process
    const run = async (script: string): Promise<string> =>
      (
        await promisify(execFile)(
          'bash',
          [
            '-c',
            script
              .replaceAll('http://127.0.0.1:7707', url)
              .replaceAll('/var/lib/haltd/entry.sock', socketPath)
              // where there is no nc with -U, socat does the same
              .replace(/nc -U (\S+)/g, hasNc ? 'nc -U $1' : 'socat - UNIX-CONNECT:$1'),
          ],
          { encoding: 'utf8', env: { ...process.env, TOKEN }, timeout: 10_000 },
        )
      ).stdout
    const doc = blocks()

    // 2. submit, and 3. the same again
    const submit = doc.get(2)![0]!
    const first = JSON.parse(await run(submit))
    expect(first).toMatchObject({ outcome: 'accepted', duplicate: false, order: { clientOrderId: 'my-1', status: 'open', haltdStatus: 'open', price: 60_000 } })
    expect(first.order.venueOrderId).toEqual(expect.any(String))
    expect(JSON.parse(await run(submit))).toMatchObject({ outcome: 'accepted', duplicate: true, order: { id: first.order.id } })

    // 4. a bad request, named
    expect(JSON.parse(await run(doc.get(4)![0]!))).toEqual({
      error: { code: 'INVALID_REQUEST', message: 'price: a limit order needs a price', problems: [{ path: 'price', message: 'a limit order needs a price' }] },
    })

    // 5. read, cancel, cancel everything
    const read: unknown[] = []
    for (const c of commands(doc.get(5)![0]!)) read.push(JSON.parse(await run(c)))
    const [openOrders, one, cancel, cancelAll, ticker, positions, balances] = read
    expect(openOrders).toEqual([expect.objectContaining({ clientOrderId: 'my-1' })])
    expect(one).toMatchObject({ clientOrderId: 'my-1', status: 'open' })
    expect(cancel).toMatchObject({ result: 'canceled', order: { clientOrderId: 'my-1', status: 'canceled' } })
    expect(cancelAll).toEqual({ results: {}, orders: [] })
    expect(ticker).toMatchObject({ venue: 'binance-sim', symbol: 'BTC/USDT:USDT' })
    expect(Array.isArray(positions)).toBe(true)
    expect(balances).toEqual(expect.anything())

    // 6. the stream: its hello line, then the engine's own updates (cut off after a moment)
    const stream = doc.get(6)![0]!.replace('curl -sN', 'curl -sN --max-time 1')
    const lines = await run(stream).catch((e: { stdout: string }) => e.stdout)
    expect(JSON.parse(lines.split('\n')[0]!)).toEqual({ type: 'hello', engine: 'pybot' })

    // 7. the Unix socket: auth, a submit, the open orders, each answered by its id
    const answers = (await run(doc.get(7)![0]!))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(answers.find((a) => a.id === null || a.id === undefined)).toMatchObject({ ok: true, result: { engine: 'pybot', role: 'engine' } })
    expect(answers.find((a) => a.id === 1)).toMatchObject({ ok: true, result: { outcome: 'accepted', order: { clientOrderId: 'my-2' } } })
    expect(answers.find((a) => a.id === 2)).toMatchObject({ ok: true, result: [expect.objectContaining({ clientOrderId: 'my-2' })] })
  })
})
