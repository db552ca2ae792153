import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { configHash, InvalidConfig, loadConfig, parseConfig, redactConfig } from '../../src/daemon/config.js'
import { tempDir } from '../support/tmp.js'

const minimal = { db: { path: '/tmp/x.db' } }

function problemsOf(f: () => unknown): { path: string; message: string }[] {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidConfig)
    return (e as InvalidConfig).problems
  }
  throw new Error('expected InvalidConfig')
}

describe('config', () => {
  it('fills every default from a config that names only the db', () => {
    const c = parseConfig(minimal)
    expect(c.admin).toEqual({ enabled: true, host: '127.0.0.1', port: 7707, allowNonLoopback: false, users: [], maxConnections: 256 })
    expect(c.shutdown.graceful.deadlineMs).toBe(300_000)
    expect(c.shutdown.graceful.flatten).toBe('none')
    expect(c.shutdown.emergency.deadlineMs).toBe(25_000)
    expect(c.startup.refuseToStartOnMismatch).toBe(false)
    expect(c.signals).toBe(false)
  })

  it('refuses a budget keyed by a name no step has, naming the key, and takes every step name', () => {
    const problems = problemsOf(() =>
      parseConfig({ ...minimal, shutdown: { graceful: { budgets: { 'cancel-and-flatten': 5_000 } }, emergency: { budgets: { 'cancel everything': 1_000 } } } }),
    )
    expect(problems.map((p) => p.path)).toEqual(['shutdown.graceful.budgets', 'shutdown.emergency.budgets'])
    expect(problems[0]!.message).toContain('cancel-and-flatten')
    expect(problems[1]!.message).toContain('cancel everything')
    const c = parseConfig({
      ...minimal,
      shutdown: { graceful: { budgets: { 'cancel orders and flatten': 5_000, reconcile: 1_000 } }, emergency: { budgets: { 'cancel all orders': 9_000 } } },
    })
    expect(c.shutdown.graceful.budgets).toEqual({ 'cancel orders and flatten': 5_000, reconcile: 1_000 })
    expect(c.shutdown.emergency.budgets).toEqual({ 'cancel all orders': 9_000 })
  })

  it('gives the router its own submit timeout and lost-answer spacing, not a shutdown budget', () => {
    expect(parseConfig(minimal).orders).toEqual({ submitTimeoutMs: 10_000, lostRecheckMs: 1_000 })
    expect(parseConfig({ ...minimal, orders: { submitTimeoutMs: 2_500 } }).orders.submitTimeoutMs).toBe(2_500)
    expect(problemsOf(() => parseConfig({ ...minimal, orders: { submitTimeoutMs: 0 } })).map((p) => p.path)).toEqual(['orders.submitTimeoutMs'])
  })

  it('is an InvalidConfig whatever the input holds, and a config wrong everywhere lists the first 50 problems and how many more', () => {
    const evil = { db: { path: 'x.db' } }
    Object.defineProperty(evil, 'venues', {
      enumerable: true,
      get() {
        throw new TypeError('a getter that throws')
      },
    })
    expect(problemsOf(() => parseConfig(evil, { HALTD_VENUE_A_API_KEY: 'k' }))[0]!.message).toContain('a getter that throws')
    const problems = problemsOf(() => parseConfig({ ...minimal, venues: Array.from({ length: 200 }, (_, i) => ({ kind: 'nope', name: `v${i}` })) }))
    expect(problems).toHaveLength(51)
    expect(problems.at(-1)!.message).toBe('and 150 more problem(s)')
  })

  it('lists every problem field by field instead of stopping at the first', () => {
    const problems = problemsOf(() =>
      parseConfig({
        db: {},
        admin: { port: 70_000, token: 'short' },
        venues: [
          { kind: 'sim', name: 'a' },
          { kind: 'ftx', name: 'b' },
        ],
        strategies: [{ id: 's', kind: 'market-maker', markets: [{ venue: 'nowhere', symbol: 'BTC/USDT' }], qty: -1 }],
        shutdown: { graceful: { flatten: 'panic' } },
        risk: { drawdown: { max: -5 } },
        surprise: true,
      }),
    )
    const paths = problems.map((p) => p.path)
    expect(paths).toEqual(
      expect.arrayContaining([
        'db.path',
        'admin.port',
        'admin.token',
        'venues[1].kind',
        'strategies[0].qty',
        'strategies[0].halfSpreadBps',
        'strategies[0].limits',
        'shutdown.graceful.flatten',
        'risk.drawdown.max',
        '',
      ]),
    )
    expect(problems.find((p) => p.path === '')?.message).toMatch(/surprise/)
  })

  it('names the strategy whose venue is not configured and a venue configured twice', () => {
    const problems = problemsOf(() =>
      parseConfig({
        ...minimal,
        venues: [
          { kind: 'sim', name: 'a' },
          { kind: 'sim', name: 'a' },
        ],
        strategies: [
          {
            id: 's',
            kind: 'taker',
            markets: [{ venue: 'b', symbol: 'BTC/USDT' }],
            qty: 1,
            lookback: 5,
            thresholdBps: 10,
            limits: { maxPosition: 1, maxOpenOrders: 2, maxOrdersPerSecond: 1 },
          },
        ],
      }),
    )
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: 'venues[1].name', message: "venue 'a' is configured twice" },
        { path: 'strategies[0].markets[0].venue', message: "no venue named 'b' (configured: a)" },
      ]),
    )
  })

  it('refuses a reconcile budget of 0, which startup uses to connect each venue', () => {
    expect(problemsOf(() => parseConfig({ ...minimal, shutdown: { graceful: { budgets: { reconcile: 0 } } } }))).toEqual([
      {
        path: 'shutdown.graceful.budgets.reconcile',
        message: 'must be at least 1 ms: it is also how long startup gives each venue to connect and be reconciled',
      },
    ])
  })

  it("refuses a user named 'local', the name the single admin token acts under, whatever its case", () => {
    const hash = `sha256:${'ab'.repeat(32)}`
    for (const name of ['local', 'LOCAL', ' Local ']) {
      expect(problemsOf(() => parseConfig({ ...minimal, admin: { users: [{ name, role: 'engine', tokenHash: hash }] } }))).toEqual([
        { path: 'admin.users[0].name', message: "'local' is the name the single admin token acts under: choose another" },
      ])
    }
    expect(parseConfig({ ...minimal, admin: { users: [{ name: 'locals', role: 'engine', tokenHash: hash }] } }).admin.users).toHaveLength(1)
  })

  it('refuses order-entry limits for a name no credential enters orders as, naming those that do', () => {
    const users = [
      { name: 'pybot', role: 'engine', tokenHash: `sha256:${'a'.repeat(64)}` },
      { name: 'viewer', role: 'viewer', tokenHash: `sha256:${'b'.repeat(64)}` },
    ]
    const limits = { maxPosition: 1, maxOpenOrders: 1, maxOrdersPerSecond: 1 }
    expect(problemsOf(() => parseConfig({ ...minimal, admin: { users }, orderEntry: { engines: { pyBot: limits, viewer: limits } } }))).toEqual([
      {
        path: 'orderEntry.engines.pyBot',
        message: "no admin user named 'pyBot' with the engine or admin role enters orders (those that do: pybot; the single admin token is 'local')",
      },
      {
        path: 'orderEntry.engines.viewer',
        message: "no admin user named 'viewer' with the engine or admin role enters orders (those that do: pybot; the single admin token is 'local')",
      },
    ])
    expect(parseConfig({ ...minimal, admin: { users }, orderEntry: { engines: { pybot: limits, local: limits } } }).orderEntry?.engines).toHaveProperty('pybot')
  })

  it('given a value meant as one form of a choice, names what is wrong inside that form; given one that fits no form, names the forms', () => {
    const problems = problemsOf(() =>
      parseConfig({
        ...minimal,
        engine: {
          pid: 1234,
          stop: { signal: 'SIGTERN' },
          kill: { http: { url: 'ftp://engine/stop' } },
          freeze: { signal: 'SIGSTOP', command: ['pkill', 'bot'] },
          gone: 'pidd',
        },
      }),
    )
    expect(problems).toContainEqual({ path: 'engine.stop.signal', message: expect.stringContaining('expected one of "SIGSTOP"|"SIGCONT"|"SIGTERM"') })
    expect(problems).toContainEqual({ path: 'engine.kill.http.url', message: expect.any(String) })
    expect(problems).toContainEqual({ path: 'engine.freeze', message: expect.stringMatching(/^one action: \{"signal": .*\{"http": .*\{"command": /) })
    expect(problems).toContainEqual({ path: 'engine.gone', message: expect.stringMatching(/^"pid", \{"http": .* or \{"command": /) })
    // no problem is left saying only that the input is invalid
    expect(problems.filter((p) => p.message === 'Invalid input')).toEqual([])
  })

  it('given guardian mode, both procedures cancel on the whole account, and an explicit cancel scope own beside it is refused naming why', () => {
    const c = parseConfig({ ...minimal, guardian: {} })
    expect([c.shutdown.graceful.cancelScope, c.shutdown.emergency.cancelScope]).toEqual(['account', 'account'])
    expect(parseConfig({ ...minimal, guardian: {}, shutdown: { emergency: { cancelScope: 'account' } } }).shutdown.graceful.cancelScope).toBe('account')
    expect(parseConfig(minimal).shutdown.emergency.cancelScope).toBe('own')
    expect(problemsOf(() => parseConfig({ ...minimal, guardian: { pollMs: 500 }, shutdown: { emergency: { cancelScope: 'own' } } }))).toEqual([
      {
        path: 'shutdown.emergency.cancelScope',
        message:
          "guardian mode cancels on the whole account: the engine's orders are not haltd's by tag, so 'own' would leave every one of them standing; remove it or write 'account'",
      },
    ])
  })

  it('refuses an order-entry socket path longer than a Unix socket address holds, with its length', () => {
    expect(problemsOf(() => parseConfig({ ...minimal, orderEntry: { socketPath: `/run/${'é'.repeat(60)}.sock` } }))).toEqual([
      { path: 'orderEntry.socketPath', message: 'a Unix socket path is at most 107 bytes; this one is 130' },
    ])
    expect(parseConfig({ ...minimal, orderEntry: { socketPath: `/${'s'.repeat(106)}` } }).orderEntry?.socketPath).toHaveLength(107)
  })

  it('refuses a checkpoint or socket path that is one of the log’s own files or another such path, naming both', () => {
    const dir = tempDir('haltd-config-clash-')
    const log = join(dir, 'events.db')
    const clashes = problemsOf(() =>
      parseConfig({
        db: { path: log },
        shutdown: { checkpoint: { path: join(dir, '.', 'events.db'), fallbackPath: `${log}-wal` } },
        orderEntry: { socketPath: join(dir, 'sub', '..', 'events.db.admin.json') },
      }),
    )
    expect(clashes).toEqual(
      expect.arrayContaining([
        { path: 'shutdown.checkpoint.path', message: 'is the path of db.path (the event log): haltd would write over it' },
        { path: 'shutdown.checkpoint.fallbackPath', message: "is the path of the event log's WAL: haltd would write over it" },
        { path: 'orderEntry.socketPath', message: "is the path of the admin listener's info file: haltd would write over it" },
      ]),
    )
    expect(
      problemsOf(() =>
        parseConfig({ db: { path: log }, shutdown: { checkpoint: { path: join(dir, 'cp.json') } }, orderEntry: { socketPath: join(dir, 'cp.json') } }),
      ),
    ).toEqual([{ path: 'orderEntry.socketPath', message: 'is the path of shutdown.checkpoint.path: haltd would write over it' }])
    expect(() =>
      parseConfig({ db: { path: log }, shutdown: { checkpoint: { path: join(dir, 'cp.json') } }, orderEntry: { socketPath: join(dir, 'e.sock') } }),
    ).not.toThrow()
  })

  it('takes secrets from the environment over the file: admin token, venue keys, a webhook', () => {
    const c = parseConfig(
      { ...minimal, venues: [{ kind: 'ccxt', name: 'okx-main', exchange: 'okx', apiKey: 'from-file' }] },
      {
        HALTD_ADMIN_TOKEN: 'a-token-of-enough-length',
        HALTD_VENUE_OKX_MAIN_API_KEY: 'key-from-env',
        HALTD_VENUE_OKX_MAIN_SECRET: 'secret-from-env',
        HALTD_WEBHOOK_URL: 'https://hooks.example.com/services/T/B/XYZ',
      },
    )
    expect(c.admin.token).toBe('a-token-of-enough-length')
    const venue = c.venues[0]!
    expect(venue.kind === 'ccxt' && [venue.apiKey, venue.secret]).toEqual(['key-from-env', 'secret-from-env'])
    expect(c.notify.webhooks.map((w) => w.url)).toEqual(['https://hooks.example.com/services/T/B/XYZ'])
  })

  it("polls a ccxt venue's tickers every second unless told otherwise, at a positive whole number of ms", () => {
    const ccxtVenue = (extra: Record<string, unknown> = {}) => ({ ...minimal, venues: [{ kind: 'ccxt', name: 'bn', exchange: 'binance', ...extra }] })
    const pollOf = (c: ReturnType<typeof parseConfig>) => (c.venues[0]!.kind === 'ccxt' ? c.venues[0]!.tickerPollMs : undefined)
    expect(pollOf(parseConfig(ccxtVenue(), {}))).toBe(1_000)
    expect(pollOf(parseConfig(ccxtVenue({ tickerPollMs: 250 }), {}))).toBe(250)
    for (const bad of [0, -5, 2.5, '1000'])
      expect(problemsOf(() => parseConfig(ccxtVenue({ tickerPollMs: bad }), {})).map((p) => p.path)).toEqual(['venues[0].tickerPollMs'])
  })

  it('reads a JSON file and lets an object override it field by field', () => {
    const dir = tempDir()
    const file = join(dir, 'haltd.json')
    writeFileSync(file, JSON.stringify({ db: { path: 'a.db' }, admin: { port: 9000, host: '127.0.0.1' } }))
    const c = loadConfig({ file, object: { admin: { port: 9001 } }, env: {} })
    expect(c.db.path).toBe('a.db')
    expect(c.admin.port).toBe(9001)
    expect(c.admin.host).toBe('127.0.0.1')
  })

  it('refuses a file that is not JSON, saying which file', () => {
    const file = join(tempDir(), 'bad.json')
    writeFileSync(file, '{ db: ')
    expect(() => loadConfig({ file, env: {} })).toThrow(/bad\.json.*\n.*not JSON/)
  })

  it('refuses a file whose JSON is not one object, naming what it holds rather than every missing section', () => {
    for (const [text, found] of [
      ['[]', 'an array'],
      ['42', 'a number'],
      ['null', 'null'],
      ['"haltd"', 'a string'],
    ] as const) {
      const file = join(tempDir(), 'odd.json')
      writeFileSync(file, text)
      expect(() => loadConfig({ file, env: {}, object: { signals: true } })).toThrow(
        new RegExp(`odd\\.json[^]*\\(root\\): the file holds ${found}; a config is one JSON object`),
      )
    }
  })

  it("given no word on them, a config's graceful shutdown asks the venues for positions before flattening and settles by observation, as the controller's own defaults do", () => {
    // a parsed config states every option, so its defaults are the ones a shutdown records
    expect(parseConfig(minimal).shutdown.graceful).toMatchObject({ observePositions: true, settleByObservation: true })
    expect(parseConfig({ ...minimal, shutdown: { graceful: { observePositions: false } } }).shutdown.graceful.observePositions).toBe(false)
  })

  it('hashes equal configs equal, changes with a setting, not with a rotated secret', () => {
    const a = parseConfig(minimal, { HALTD_ADMIN_TOKEN: 'first-token-0123456789' })
    const b = parseConfig({ db: { path: '/tmp/x.db' } }, { HALTD_ADMIN_TOKEN: 'second-token-0123456789' })
    const c = parseConfig({ ...minimal, shutdown: { graceful: { flatten: 'aggressive' } } })
    expect(configHash(a)).toMatch(/^[0-9a-f]{64}$/)
    expect(configHash(a)).toBe(configHash(b))
    expect(configHash(a)).not.toBe(configHash(c))
  })

  it('redacts the token, venue keys and webhook paths for display', () => {
    const c = parseConfig(
      {
        ...minimal,
        venues: [{ kind: 'ccxt', name: 'bn', exchange: 'binance', secret: 'shh-its-secret' }],
        notify: { webhooks: [{ url: 'https://hooks.example.com/services/T/B/XYZ' }] },
      },
      { HALTD_ADMIN_TOKEN: 'a-token-of-enough-length' },
    )
    const shown = JSON.stringify(redactConfig(c))
    expect(shown).not.toContain('a-token-of-enough-length')
    expect(shown).not.toContain('shh-its-secret')
    expect(shown).not.toContain('XYZ')
    expect(shown).toContain('https://hooks.example.com/[redacted]')
  })

  describe('the chain key file (db.chainKeyFile)', () => {
    /** A data directory with the log in it, and a key file at `where` (relative to a fresh root) with `mode`. */
    function layout(where: string, mode = 0o600, bytes = 32): { db: string; key: string } {
      const root = tempDir()
      mkdirSync(join(root, 'data', 'sub'), { recursive: true })
      mkdirSync(join(root, 'keys'), { recursive: true })
      const key = join(root, where)
      writeFileSync(key, Buffer.alloc(bytes, 7), { mode })
      chmodSync(key, mode)
      return { db: join(root, 'data', 'events.db'), key }
    }

    it('takes a key file outside the log directory, mode 0600, of at least 32 bytes', () => {
      const { db, key } = layout('keys/chain.key')
      expect(parseConfig({ db: { path: db, chainKeyFile: key } }).db.chainKeyFile).toBe(key)
    })

    it('refuses a key file in the log directory, or below it, naming db.chainKeyFile', () => {
      for (const where of ['data/chain.key', 'data/sub/chain.key']) {
        const { db, key } = layout(where)
        const problems = problemsOf(() => parseConfig({ db: { path: db, chainKeyFile: key } }))
        expect(problems.map((p) => p.path)).toEqual(['db.chainKeyFile'])
        expect(problems[0]!.message).toContain("in the log's directory")
      }
    })

    it('refuses a key file readable by group or others, a short one and a missing one, naming db.chainKeyFile', () => {
      const readable = layout('keys/chain.key', 0o640)
      const [open] = problemsOf(() => parseConfig({ db: { path: readable.db, chainKeyFile: readable.key } }))
      expect(open).toMatchObject({ path: 'db.chainKeyFile' })
      expect(open!.message).toMatch(/group or others \(mode 640\)/)
      const short = layout('keys/chain.key', 0o600, 16)
      expect(problemsOf(() => parseConfig({ db: { path: short.db, chainKeyFile: short.key } }))[0]!.message).toContain('fewer than the 32')
      const missing = problemsOf(() => parseConfig({ db: { path: short.db, chainKeyFile: join(tempDir(), 'none.key') } }))
      expect(missing[0]).toMatchObject({ path: 'db.chainKeyFile', message: expect.stringContaining('cannot be read') })
    })

    it('takes db.maxEventBytes as a positive integer and leaves it unset by default', () => {
      expect(parseConfig(minimal).db.maxEventBytes).toBeUndefined()
      expect(parseConfig({ db: { path: '/tmp/x.db', maxEventBytes: 4096 } }).db.maxEventBytes).toBe(4096)
      for (const bad of [0, -1, 1.5]) expect(problemsOf(() => parseConfig({ db: { path: '/tmp/x.db', maxEventBytes: bad } }))[0]!.path).toBe('db.maxEventBytes')
    })
  })
})
