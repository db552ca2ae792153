import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createHaltd, type Haltd } from '../../src/daemon/index.js'
import { demoConfig } from '../../src/daemon/demo.js'
import { createLogger } from '../../src/daemon/logger.js'
import { hashToken } from '../../src/admin/access.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

/**
 * The example engine in Python (examples/python/quoting_engine.py, with the standard-library
 * client beside it) quotes through haltd against the demo's simulated venues, over the Unix
 * socket and over HTTP, as a real python3 process.
 */

const TOKEN = 'python-engine-token-0123456789'
const open: Haltd[] = []
afterEach(async () => {
  for (const h of open.splice(0)) await h.close().catch(() => undefined)
})

async function demo() {
  const dir = tempDir('haltd-py-')
  const socketPath = join(dir, 'entry.sock')
  const base = demoConfig({ db: join(dir, 'events.db'), port: 0, seed: 7, orders: 0 })
  const venues = (base.venues ?? []).map((v) => ({ ...v, feedMs: 50 }))
  const h = await createHaltd(
    {
      ...base,
      venues,
      strategies: [],
      signals: false,
      admin: { port: 0, users: [{ name: 'quoter', role: 'engine', tokenHash: hashToken(TOKEN) }] },
      orderEntry: { socketPath, limits: { maxPosition: 1, maxOpenOrders: 10, maxOrdersPerSecond: 100 } },
    },
    { logger: createLogger({ destination: memoryDestination(), level: 'warn' }), env: {} },
  )
  open.push(h)
  return { h, socketPath }
}

function python(args: string[], script = join('examples', 'python', 'quoting_engine.py')): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('python3', [...(script === '-c' ? [] : [script]), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

type Summary = { rounds: number; quotes: number; takes: number; duplicates: number; refused: string[]; fills: number; updates: number; open_after: number }

describe('the example Python engine, quoting through haltd', { timeout: 40_000 }, () => {
  for (const transport of ['socket', 'http'] as const) {
    it(`quotes, takes, retries a submit without a second order, and leaves nothing open (${transport})`, async () => {
      const { h, socketPath } = await demo()
      const where = transport === 'socket' ? ['--socket', socketPath] : ['--url', h.admin!.url]
      const run = await python([...where, '--token', TOKEN, '--venue', 'binance-sim', '--rounds', '6', '--interval', '0.05', '--run', transport])
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      const summary = JSON.parse(run.stdout.trim()) as Summary
      expect(summary).toMatchObject({ rounds: 6, quotes: 12, takes: 2, duplicates: 1, refused: [], open_after: 0 })
      expect(summary.fills).toBeGreaterThanOrEqual(2)
      // every order is haltd's, written ahead with the engine as its origin; the retry made none
      const submitted = [...h.log.read({ types: ['order.submitted'] })].map((e) => e.data as { origin: { kind: string; id: string } })
      expect(submitted).toHaveLength(14)
      expect(submitted.every((d) => d.origin.kind === 'engine' && d.origin.id.startsWith(`quoter/qe-${transport}-`))).toBe(true)
      const atVenue = await h.venues.get('binance-sim')!.fetchOpenOrders()
      expect(atVenue).toEqual([])
    })
  }

  it('sends a batch of orders at once over the socket with submit_many, each answered, a bad one named', async () => {
    const { h, socketPath } = await demo()
    const script = [
      'import json, sys',
      "sys.path.insert(0, 'examples/python')",
      'from haltd_client import HaltdClient, HaltdError',
      'c = HaltdClient(socket_path=sys.argv[1], token=sys.argv[2])',
      "orders = [dict(symbol='BTC/USDT:USDT', type='limit', side='buy', amount=0.001, price=1000 + i, client_order_id='many-%d' % i, venue='binance-sim') for i in range(4)]",
      "orders.insert(2, dict(symbol='BTC/USDT:USDT', type='limit', side='buy', amount=0.001, client_order_id='many-bad', venue='binance-sim'))",
      'out = c.submit_many(orders)',
      "print(json.dumps([a.message if isinstance(a, HaltdError) else [a['outcome'], a['order']['clientOrderId']] for a in out]))",
    ].join('\n')
    const run = await python(['-c', script, socketPath, TOKEN], '-c')
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout.trim())).toEqual([
      ['accepted', 'many-0'],
      ['accepted', 'many-1'],
      'price: a limit order needs a price',
      ['accepted', 'many-2'],
      ['accepted', 'many-3'],
    ])
    // written ahead in the order sent
    const ids = [...h.log.read({ types: ['order.submitted'] })].map((e) => (e.data as { origin: { id: string } }).origin.id)
    expect(ids).toEqual(['quoter/many-0', 'quoter/many-1', 'quoter/many-2', 'quoter/many-3'])
  })

  it('retries a request on a lost connection only where sending it again cannot make a second order: a submit without a client order id is not sent twice', async () => {
    // a listener that takes each request and drops the connection before any answer
    const requests: string[] = []
    const server = createServer((socket) => {
      let seen = ''
      socket.on('data', (c: Buffer) => {
        seen += c.toString('utf8')
        const head = seen.indexOf('\r\n\r\n')
        const length = Number(/content-length: *(\d+)/i.exec(seen)?.[1] ?? 0)
        if (head !== -1 && seen.length >= head + 4 + length) {
          requests.push(seen.slice(head + 4))
          socket.destroy()
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
      const script = [
        'import json, sys',
        "sys.path.insert(0, 'examples/python')",
        'from haltd_client import HaltdClient',
        'c = HaltdClient(url=sys.argv[1], token=sys.argv[2])',
        'out = []',
        'for coid in (None, "kept-1"):',
        '    try:',
        "        c.submit('BTC/USDT:USDT', 'limit', 'buy', 0.001, price=1000, client_order_id=coid)",
        "        out.append('answered')",
        '    except ConnectionError as e:',
        '        out.append(type(e).__name__)',
        'print(json.dumps(out))',
      ].join('\n')
      const run = await python(['-c', script, url, TOKEN], '-c')
      expect(run.stderr).toBe('')
      expect(JSON.parse(run.stdout.trim())).toEqual(['RemoteDisconnected', 'RemoteDisconnected'])
      // the submit without an id went once; the one with an id was sent again, as haltd would find it
      expect(requests.map((r) => (JSON.parse(r) as { clientOrderId?: string }).clientOrderId ?? null)).toEqual([null, 'kept-1', 'kept-1'])
    } finally {
      server.close()
    }
  })
})
