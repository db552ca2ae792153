import { createHash } from 'node:crypto'
import { readFileSync, realpathSync } from 'node:fs'
import { basename, dirname, relative, resolve, isAbsolute } from 'node:path'
import { z } from 'zod'
import { HaltdError, problemsOf, type FieldProblem } from '../events/errors.js'
import { SimConfig, SimSymbolConfig } from '../exchanges/sim/index.js'
import { UrlOverrides } from '../exchanges/ccxt/endpoints.js'
import { MarketMakerConfig, MomentumTakerConfig, StrategyLimits } from '../strategies/index.js'
import { RiskConfig } from '../core/risk/config.js'
import { EMERGENCY_DEADLINE_MAX_MS } from './watchdog.js'
import { Secrets } from './logger.js'
import { EmergencyOptions, GracefulOptions } from '../core/shutdown/options.js'
import { isLoopback } from '../admin/request-target.js'
import { AdminUser, SINGLE_TOKEN_NAME } from '../admin/access.js'
import { ENTRY_ROLES } from '../admin/order-entry.js'
import { FeedConfig } from '../admin/dashboard/feed.js'
import { LoginLimitConfig } from '../admin/login-limit.js'
import { chainKeyFileProblem } from '../core/log/chain-key.js'
import { NatsConfig } from '../cluster/config.js'
import { EngineConfig } from './engine-process.js'
import { OrderEntryConfig } from './order-entry-config.js'
import { ReplicationConfig } from '../cluster/replication/config.js'
import { FailoverConfig } from '../cluster/leadership/config.js'
import { FleetConfig } from '../cluster/fleet/config.js'

/**
 * The whole configuration of a haltd process, as one schema. It comes from a JSON file, an
 * object, or both (the object wins field by field), and secrets come from the environment so
 * they need not sit in a file. A bad config fails before anything starts, with every problem.
 */

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, dot, dash and underscore, at most 64')
const Ms = z.number().int().nonnegative()
const Secret = z.string().min(1)

const DEFAULT_SIM_SYMBOLS = [
  { symbol: 'BTC/USDT:USDT', mid: 64_000, amountStep: 0.001, priceStep: 0.1 },
  { symbol: 'ETH/USDT:USDT', mid: 3_200, amountStep: 0.01, priceStep: 0.01 },
]

/** A simulated venue: the simulator's own schema, named like any venue, plus its feed rate. */
const SimVenue = SimConfig.omit({ venue: true, seed: true, mode: true, symbols: true }).extend({
  kind: z.literal('sim'),
  name: Name,
  /** Same seed, same market: the simulator's only source of randomness. */
  seed: z.number().int().default(1),
  mode: z.enum(['derivatives', 'spot']).default('derivatives'),
  symbols: z.array(SimSymbolConfig).min(1).prefault(DEFAULT_SIM_SYMBOLS),
  /** One market data tick every this many ms. */
  feedMs: z.number().int().min(10).default(500),
})

const CcxtVenue = z.strictObject({
  kind: z.literal('ccxt'),
  name: Name,
  /** The ccxt exchange id: `binance`, `okx`, `kraken`, `binanceusdm`… */
  exchange: z.string().min(1),
  apiKey: Secret.optional(),
  secret: Secret.optional(),
  password: Secret.optional(),
  uid: Secret.optional(),
  /** ccxt's testnet (`setSandboxMode(true)`), where the exchange has one. */
  sandbox: z.boolean().default(false),
  /** Endpoints put over the exchange's own `urls` (after `sandbox`), in ccxt's shape: another endpoint, a proxy, a local venue. */
  urls: UrlOverrides.optional(),
  symbols: z.array(z.string().min(1)).default([]),
  /** Market data: the `symbols`' tickers are polled this often (no symbols, no feed). */
  tickerPollMs: z.number().int().positive().default(1_000),
  /** Passed to the ccxt constructor as they are (`enableRateLimit`, `timeout`, …; ccxt's own `options` go in `options.options`). */
  options: z.record(z.string(), z.unknown()).default({}),
})

export const VenueConfig = z.discriminatedUnion('kind', [SimVenue, CcxtVenue])

const StrategyCommon = { enabled: z.boolean().default(true), limits: StrategyLimits }

/** A sample strategy: its own config schema plus the limits the host holds it to. */
export const StrategyConfig = z.discriminatedUnion('kind', [
  MarketMakerConfig.extend({ kind: z.literal('market-maker'), ...StrategyCommon }),
  MomentumTakerConfig.extend({ kind: z.literal('taker'), ...StrategyCommon }),
])

export const WebhookConfig = z.strictObject({
  name: Name.default('webhook'),
  url: z.url({ protocol: /^https?$/ }),
  timeoutMs: Ms.min(100).default(3_000),
  retries: z.number().int().min(0).max(10).default(2),
  backoffMs: Ms.default(250),
  /** Extra HTTP headers (an auth header for the receiving end, for example). */
  headers: z.record(z.string(), z.string()).default({}),
})

/**
 * The budgets the shutdown keeps: the shutdown engine's own option schemas, so there is one
 * truth. The emergency deadline is at most 26 s so that the watchdog, which exits 2 s and kills
 * 4 s after it, has the process gone within 30 s of the emergency without cutting it short.
 */
export const ShutdownConfig = z.strictObject({
  // how an engine left running ends a shutdown, and how the first cancel round goes, are haltd's
  // rules, recorded by the controller, not settings
  graceful: GracefulOptions.omit({ engineRunningIsExposure: true, exposureOutranksFailure: true, fillUnknownIsExposure: true, cancelAllFirst: true })
    // the controller's defaults for a new shutdown; a parsed config states them, so it states these
    .extend({ settleByObservation: z.boolean().default(true), observePositions: z.boolean().default(true) })
    .prefault({}),
  emergency: EmergencyOptions.omit({ observeAfterSettles: true })
    .extend({
      deadlineMs: Ms.min(1_000).max(EMERGENCY_DEADLINE_MAX_MS).default(25_000),
      observeAfterCancels: z.boolean().default(true),
      settleByObservation: z.boolean().default(true),
    })
    .prefault({}),
  checkpoint: z
    .strictObject({
      /** Where step 8 writes; default: `<db>.checkpoint.json`. */
      path: z.string().min(1).optional(),
      /** Used when the primary cannot be written; default: in the OS temp directory. */
      fallbackPath: z.string().min(1).optional(),
    })
    .prefault({}),
})

export const HaltdConfig = z
  .strictObject({
    db: z.strictObject({
      path: z.string().min(1),
      durability: z.enum(['process', 'power']).default('process'),
      /** A projection snapshot every N events at least, so a restart reads only the tail (a large state's are spaced by its size). */
      snapshotEvery: z.number().int().min(0).default(10_000),
      /** The largest event data the log takes, in bytes as stored; default 1 MiB. */
      maxEventBytes: z.number().int().positive().optional(),
      /**
       * A keyed chain: the file's bytes (at least 32, mode 0600, outside the log's directory) key
       * each link as HMAC-SHA256, so a rewrite of the log without the key fails `haltd verify
       * --key-file`. Recorded when the log is created: a plain log stays plain.
       */
      chainKeyFile: z.string().min(1).optional(),
    }),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** `auto`: pretty on a terminal, JSON lines otherwise. */
        format: z.enum(['auto', 'pretty', 'json']).default('auto'),
      })
      .prefault({}),
    admin: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Loopback unless said otherwise: the admin API can stop trading. */
        host: z.string().min(1).default('127.0.0.1'),
        /** 0 picks a free port. */
        port: z.number().int().min(0).max(65_535).default(7_707),
        /**
         * The single-user token, acting as `admin` under the name `local`; generated per run when
         * absent (and written to `<db>.admin.json`, mode 0600, for the account that runs haltd).
         */
        token: z.string().min(16, 'at least 16 characters').optional(),
        /**
         * Named credentials, each with a role and the hash of its token (`haltd token new`): an
         * action records the name and role as its `by`. In the config hash, so a change of access
         * shows in the log's `run.started`.
         */
        users: z.array(AdminUser).default([]),
        /** A `host` beyond loopback (`0.0.0.0`, a LAN address) is refused unless this says so. */
        allowNonLoopback: z.boolean().default(false),
        /** The dashboard feed's pace and how much a slow page may leave unsent before frames are skipped. */
        feed: FeedConfig.optional(),
        /** Failed logins per remote address before it waits (5 a minute, then a minute, unless said). */
        loginLimit: LoginLimitConfig.optional(),
        /** Wrong bearer tokens per remote address before it waits (30 a minute, then a minute, unless said); counted apart from logins. */
        tokenLimit: LoginLimitConfig.optional(),
        /**
         * Connections the admin API holds at once (pages, tools, sockets); past it a new one takes
         * the place of the oldest not being served (or is closed, when all are), so a flood of
         * connections cannot take the descriptors the log, the checkpoint and the venues need.
         */
        maxConnections: z.number().int().min(16).max(10_000).default(256),
      })
      .prefault({}),
    venues: z.array(VenueConfig).default([]),
    strategies: z.array(StrategyConfig).default([]),
    /** Kill-switch triggers; each is off unless configured. */
    risk: RiskConfig.prefault({}),
    shutdown: ShutdownConfig.prefault({}),
    /** The order router's own bounds (write-ahead submits and cancels while trading). */
    orders: z
      .strictObject({
        /** How long a submit waits for the venue's answer before it looks the order up instead. */
        submitTimeoutMs: Ms.min(100).default(10_000),
        /** How far apart the lookups of a submit whose answer was lost are (three, within the submit timeout). */
        lostRecheckMs: Ms.min(10).default(1_000),
      })
      .prefault({}),
    startup: z
      .strictObject({
        /** Refuse to enable strategies when a venue disagrees with the log (else: record and go on). */
        refuseToStartOnMismatch: z.boolean().default(false),
        /** Adopt orders found at a venue that carry haltd's tag but are unknown to the log. */
        adoptTaggedOrders: z.boolean().default(true),
      })
      .prefault({}),
    notify: z
      .strictObject({
        webhooks: z.array(WebhookConfig).default([]),
        /** What a notification may cost a shutdown step, all sinks and retries included. */
        budgetMs: Ms.min(100).default(5_000),
      })
      .prefault({}),
    /**
     * While running, keep each countdown venue's dead man's switch armed (refreshed every
     * `refreshMs`), so a haltd that dies or hangs leaves the venue to cancel its orders within
     * `timeoutMs`. Disarmed only by a graceful shutdown that left nothing at the venue in doubt.
     */
    deadMansSwitch: z
      .strictObject({
        keepArmed: z.boolean().default(true),
        timeoutMs: Ms.min(1_000).default(60_000),
        refreshMs: Ms.min(100).default(15_000),
      })
      .prefault({}),
    /** Install SIGTERM/SIGINT/SIGUSR2 handlers (always on for `haltd run`). */
    signals: z.boolean().default(false),
    /** NATS with JetStream, for a hot standby and the fleet; without it haltd runs alone. */
    nats: NatsConfig.optional(),
    /** The trading engine's process, which the shutdowns freeze, stop and kill (`daemon/engine-process.ts`). */
    engine: EngineConfig.optional(),
    /** Order entry for an engine beside haltd (`daemon/order-entry.ts`): its orders become haltd's. */
    orderEntry: OrderEntryConfig.optional(),
    /**
     * Guardian mode (`core/execution/guardian.ts`): an engine keeps its own order entry on these
     * accounts; haltd follows them, adopts every order it sees, and its shutdowns act on the whole
     * account (cancel scope `account` in both procedures, whatever `shutdown` says).
     */
    guardian: z.strictObject({ pollMs: z.number().int().min(50).default(1_000) }).optional(),
    /** Every committed event published to the engine's JetStream stream (docs/ARCHITECTURE.md, "Hot standby"). */
    replication: ReplicationConfig.optional(),
    /** A lease-held leadership per engine, a standby's role, and what an unplanned failover comes up as. */
    failover: FailoverConfig.optional(),
    /** This engine in the desk's fleet: its registry row and the fleet kill switch (needs `nats`). */
    fleet: FleetConfig.optional(),
  })
  .superRefine((config, ctx) => {
    for (const section of ['replication', 'failover'] as const) {
      if (config[section] && !config.nats) ctx.addIssue({ code: 'custom', path: [section], message: 'needs the nats section (servers and engine)' })
    }
    if (config.failover && !config.replication)
      ctx.addIssue({ code: 'custom', path: ['failover'], message: 'needs the replication section: a standby follows the stream' })
    const names = new Set<string>()
    config.venues.forEach((v, i) => {
      if (names.has(v.name)) ctx.addIssue({ code: 'custom', path: ['venues', i, 'name'], message: `venue '${v.name}' is configured twice` })
      names.add(v.name)
    })
    const ids = new Set<string>()
    config.strategies.forEach((s, i) => {
      if (ids.has(s.id)) ctx.addIssue({ code: 'custom', path: ['strategies', i, 'id'], message: `strategy '${s.id}' is configured twice` })
      ids.add(s.id)
      s.markets.forEach((m, j) => {
        if (!names.has(m.venue)) {
          ctx.addIssue({
            code: 'custom',
            path: ['strategies', i, 'markets', j, 'venue'],
            message: `no venue named '${m.venue}' (configured: ${[...names].join(', ') || 'none'})`,
          })
        }
      })
    })
    const keyProblem = config.db.chainKeyFile === undefined ? undefined : chainKeyFileCheck(config.db.chainKeyFile, config.db.path)
    if (keyProblem) ctx.addIssue({ code: 'custom', path: ['db', 'chainKeyFile'], message: keyProblem })
    const admin = config.admin
    if (admin.enabled && !admin.allowNonLoopback && !isLoopbackHost(admin.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'host'],
        message: `'${admin.host}' is not a loopback address, and the admin API can stop trading: set admin.allowNonLoopback to true to listen there`,
      })
    }
    const seen = new Map<string, number>()
    admin.users.forEach((u, i) => {
      for (const key of [`name ${u.name}`, `hash ${u.tokenHash}`]) {
        const first = seen.get(key)
        if (first !== undefined) {
          const what = key.startsWith('name') ? `the name '${u.name}'` : 'the same token hash'
          ctx.addIssue({ code: 'custom', path: ['admin', 'users', i], message: `${what} as admin.users[${first}]: each credential is one person's own` })
        }
        seen.set(key, i)
      }
    })
    if (config.orderEntry) {
      // limits for a name no credential enters orders as would be left unused, and the engine meant held to the defaults
      const entering = new Set([SINGLE_TOKEN_NAME, ...admin.users.filter((u) => ENTRY_ROLES.includes(u.role)).map((u) => u.name)])
      for (const name of Object.keys(config.orderEntry.engines)) {
        if (entering.has(name)) continue
        const known = [...entering].filter((n) => n !== SINGLE_TOKEN_NAME)
        ctx.addIssue({
          code: 'custom',
          path: ['orderEntry', 'engines', name],
          message: `no admin user named '${name}' with the engine or admin role enters orders (${known.length > 0 ? `those that do: ${known.join(', ')}` : 'none does'}; the single admin token is '${SINGLE_TOKEN_NAME}')`,
        })
      }
    }
    const d = config.deadMansSwitch
    if (d.refreshMs >= d.timeoutMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['deadMansSwitch', 'refreshMs'],
        message: `must be below deadMansSwitch.timeoutMs (${d.timeoutMs}), or the switch fires between refreshes`,
      })
    }
    if (config.fleet && !config.nats) ctx.addIssue({ code: 'custom', path: ['fleet'], message: 'needs a nats section: the fleet lives in NATS JetStream' })
    const g = config.shutdown.graceful
    if (g.waitTimeoutMs >= g.deadlineMs) {
      ctx.addIssue({ code: 'custom', path: ['shutdown', 'graceful', 'waitTimeoutMs'], message: `must be below shutdown.graceful.deadlineMs (${g.deadlineMs})` })
    }
    if (g.budgets.reconcile === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['shutdown', 'graceful', 'budgets', 'reconcile'],
        message: 'must be at least 1 ms: it is also how long startup gives each venue to connect and be reconciled',
      })
    for (const clash of pathClashes(config)) ctx.addIssue({ code: 'custom', ...clash })
  })

/**
 * Files haltd writes, replaces or removes that would land on another it keeps: a checkpoint
 * renamed over the log, a stale socket removed where the log is. Each is named with the one it
 * would take the place of.
 */
function pathClashes(config: {
  db: { path: string; chainKeyFile?: string | undefined }
  shutdown: { checkpoint: { path?: string | undefined; fallbackPath?: string | undefined } }
  orderEntry?: { socketPath?: string | undefined } | undefined
}): { path: (string | number)[]; message: string }[] {
  const where = (p: string) => resolve(realDir(dirname(resolve(p))), basename(p))
  const log = config.db.path
  const kept = new Map<string, string>()
  for (const [file, what] of [
    [log, 'db.path (the event log)'],
    [`${log}-wal`, "the event log's WAL"],
    [`${log}-shm`, "the event log's shared memory"],
    [`${log}.lock`, "the event log's writer lock"],
    [`${log}.admin.json`, "the admin listener's info file"],
    [`${log}.unrecorded-emergency`, 'the file that keeps an emergency the event log could not record'],
    ...(config.db.chainKeyFile ? [[config.db.chainKeyFile, 'db.chainKeyFile']] : []),
  ] as const)
    kept.set(where(file), what)
  const out: { path: (string | number)[]; message: string }[] = []
  const written: [string[], string | undefined][] = [
    [['shutdown', 'checkpoint', 'path'], config.shutdown.checkpoint.path],
    [['shutdown', 'checkpoint', 'fallbackPath'], config.shutdown.checkpoint.fallbackPath],
    [['orderEntry', 'socketPath'], config.orderEntry?.socketPath],
  ]
  for (const [path, file] of written) {
    if (file === undefined) continue
    const at = where(file)
    const taken = kept.get(at)
    if (taken !== undefined) out.push({ path, message: `is the path of ${taken}: haltd would write over it` })
    else kept.set(at, path.join('.'))
  }
  return out
}

/** A directory's real path where it exists (symlinks followed), else as resolved. */
function realDir(dir: string): string {
  try {
    return realpathSync(dir)
  } catch {
    return resolve(dir)
  }
}

/**
 * Why a chain key file cannot serve, or undefined: one kept with the log (in its directory or
 * below) goes wherever the log goes and protects nothing against whoever can write it.
 */
function chainKeyFileCheck(keyFile: string, logPath: string): string | undefined {
  const logDir = realDir(dirname(resolve(logPath)))
  const keyDir = realDir(dirname(resolve(keyFile)))
  const rel = relative(logDir, keyDir)
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel)))
    return `${keyFile} is in the log's directory (${logDir}): keep the chain key outside the data directory, or whoever can rewrite the log can read the key`
  return chainKeyFileProblem(keyFile)
}

/** `localhost`, `127.x.x.x`, `::1`: the admin API's hosts that need no `allowNonLoopback`. */
const isLoopbackHost = (host: string): boolean => host.toLowerCase() === 'localhost' || isLoopback(host.replace(/^\[(.*)\]$/, '$1'))

export type HaltdConfig = z.output<typeof HaltdConfig>
export type HaltdConfigInput = z.input<typeof HaltdConfig>
export type VenueConfig = z.output<typeof VenueConfig>
export type StrategyConfig = z.output<typeof StrategyConfig>
export type WebhookConfig = z.output<typeof WebhookConfig>
export type ShutdownConfig = z.output<typeof ShutdownConfig>

/** The config does not hold: every problem, field by field. */
export class InvalidConfig extends HaltdError {
  readonly problems: FieldProblem[]
  constructor(
    problems: FieldProblem[],
    readonly source?: string,
  ) {
    // A config wrong everywhere still gives a message a person can read: the first problems, and how many more.
    const shown =
      problems.length > MAX_PROBLEMS
        ? [...problems.slice(0, MAX_PROBLEMS), { path: '', message: `and ${problems.length - MAX_PROBLEMS} more problem(s)` }]
        : problems
    super('INVALID_CONFIG', `invalid config${source ? ` (${source})` : ''}:\n${shown.map((p) => `  - ${p.path || '(root)'}: ${p.message}`).join('\n')}`)
    this.problems = shown
  }
}

const MAX_PROBLEMS = 50

type Env = Record<string, string | undefined>

/** `okx-sim` → `OKX_SIM`: the venue's part of its environment variable names. */
const envName = (venue: string): string => venue.toUpperCase().replace(/[^A-Z0-9]/g, '_')

/**
 * Secrets the environment supplies (and that win over the file):
 * `HALTD_ADMIN_TOKEN`, `HALTD_WEBHOOK_URL` (one more webhook, e.g. a Slack incoming webhook),
 * `HALTD_VENUE_<NAME>_API_KEY`, `_SECRET`, `_PASSWORD`, `_UID` for each ccxt venue,
 * `HALTD_NATS_TOKEN` (with a `nats` section), and `HALTD_LOG_LEVEL`.
 */
function applyEnv(raw: unknown, env: Env): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw
  const out: Record<string, unknown> = { ...(raw as Record<string, unknown>) }
  if (env.HALTD_ADMIN_TOKEN) out.admin = { ...asRecord(out.admin), token: env.HALTD_ADMIN_TOKEN }
  if (env.HALTD_NATS_TOKEN && out.nats !== undefined) out.nats = { ...asRecord(out.nats), token: env.HALTD_NATS_TOKEN }
  if (env.HALTD_LOG_LEVEL) out.log = { ...asRecord(out.log), level: env.HALTD_LOG_LEVEL }
  if (env.HALTD_WEBHOOK_URL) {
    const notify = asRecord(out.notify)
    const hooks = Array.isArray(notify.webhooks) ? notify.webhooks : []
    out.notify = { ...notify, webhooks: [...hooks, { name: 'env-webhook', url: env.HALTD_WEBHOOK_URL }] }
  }
  if (Array.isArray(out.venues)) {
    out.venues = out.venues.map((v: unknown) => {
      const venue = asRecord(v)
      if (venue.kind !== 'ccxt' || typeof venue.name !== 'string') return v
      const prefix = `HALTD_VENUE_${envName(venue.name)}_`
      const secrets: Record<string, string> = {}
      for (const [suffix, field] of [
        ['API_KEY', 'apiKey'],
        ['SECRET', 'secret'],
        ['PASSWORD', 'password'],
        ['UID', 'uid'],
      ] as const) {
        const value = env[prefix + suffix]
        if (value) secrets[field] = value
      }
      return { ...venue, ...secrets }
    })
  }
  return out
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {}
}

/** Deep merge for plain objects; arrays and scalars of `over` replace those of `base`. */
function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base
  const b = asRecord(base)
  if (typeof over !== 'object' || over === null || Array.isArray(over) || typeof base !== 'object' || base === null || Array.isArray(base)) return over
  const out: Record<string, unknown> = { ...b }
  for (const [k, v] of Object.entries(over)) out[k] = merge(b[k], v)
  return out
}

export type LoadConfigOptions = {
  /** A JSON file; its directory is where relative paths in it are taken from. */
  file?: string
  /** Fields over the file's (or the whole config when there is no file). */
  object?: unknown
  env?: Env
}

/** Read, merge, apply the environment and validate. Throws `InvalidConfig` listing every problem. */
export function loadConfig(options: LoadConfigOptions): HaltdConfig {
  let raw: unknown = {}
  if (options.file !== undefined) {
    let text: string
    try {
      text = readFileSync(options.file, 'utf8')
    } catch (e) {
      throw new InvalidConfig([{ path: '', message: `cannot read ${options.file}: ${(e as Error).message}` }], options.file)
    }
    try {
      raw = JSON.parse(text)
    } catch (e) {
      throw new InvalidConfig([{ path: '', message: `not JSON: ${(e as Error).message}` }], options.file)
    }
    // merged with the command line's settings, anything but an object would read as a config missing every section
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      const found = raw === null ? 'null' : Array.isArray(raw) ? 'an array' : `a ${typeof raw}`
      throw new InvalidConfig([{ path: '', message: `the file holds ${found}; a config is one JSON object ({ "db": …, "venues": … })` }], options.file)
    }
  }
  return parseConfig(merge(raw, options.object), options.env ?? process.env, options.file)
}

export function parseConfig(raw: unknown, env: Env = {}, source?: string): HaltdConfig {
  let result: ReturnType<typeof HaltdConfig.safeParse>
  try {
    result = HaltdConfig.safeParse(applyEnv(raw, env))
  } catch (e) {
    // Whatever the input holds (getters that throw, odd prototypes), a bad config is an InvalidConfig.
    throw new InvalidConfig([{ path: '', message: `cannot read the config: ${e instanceof Error ? e.message : String(e)}` }], source)
  }
  if (!result.success) throw new InvalidConfig(problemsOf(result.error), source)
  const config = result.data
  if (!config.guardian) return config
  const own = ownScopeBesideGuardian(raw)
  if (own.length > 0) throw new InvalidConfig(own, source)
  // a guardian's shutdowns act on the whole account: the engine's orders are not haltd's by tag
  const shutdown = config.shutdown
  return {
    ...config,
    shutdown: { ...shutdown, graceful: { ...shutdown.graceful, cancelScope: 'account' }, emergency: { ...shutdown.emergency, cancelScope: 'account' } },
  }
}

/** A cancel scope `own` written beside `guardian`, which would leave every order of the engine standing. */
function ownScopeBesideGuardian(raw: unknown): FieldProblem[] {
  const problems: FieldProblem[] = []
  const shutdown = (raw as { shutdown?: Record<string, { cancelScope?: unknown } | undefined> } | undefined)?.shutdown
  for (const procedure of ['graceful', 'emergency'] as const) {
    if (shutdown?.[procedure]?.cancelScope !== 'own') continue
    problems.push({
      path: `shutdown.${procedure}.cancelScope`,
      message:
        "guardian mode cancels on the whole account: the engine's orders are not haltd's by tag, so 'own' would leave every one of them standing; remove it or write 'account'",
    })
  }
  return problems
}

/** Copy of a config with every secret replaced, for logs, hashes and the status endpoint. */
export function redactConfig(config: HaltdConfig): HaltdConfig {
  const mask = (v: string | undefined) => (v === undefined ? undefined : '[redacted]')
  return {
    ...config,
    admin: { ...config.admin, token: mask(config.admin.token) },
    venues: config.venues.map((v) =>
      v.kind === 'ccxt' ? { ...v, apiKey: mask(v.apiKey), secret: mask(v.secret), password: mask(v.password), uid: mask(v.uid) } : v,
    ),
    nats: config.nats && { ...config.nats, token: mask(config.nats.token) },
    notify: {
      ...config.notify,
      webhooks: config.notify.webhooks.map((w) => ({
        ...w,
        url: redactUrl(w.url),
        headers: Object.fromEntries(Object.keys(w.headers).map((k) => [k, '[redacted]'])),
      })),
    },
  }
}

/** A webhook URL's path is often the secret (Slack): keep only the origin. */
function redactUrl(url: string): string {
  try {
    return `${new URL(url).origin}/[redacted]`
  } catch {
    return '[redacted]'
  }
}

/** Canonical JSON: keys sorted at every level, so equal configs hash equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value)
}

/** The hash recorded in `run.started`: what the process ran with, secrets left out (rotating a key is not a config change). */
export function configHash(config: HaltdConfig): string {
  return createHash('sha256')
    .update(canonical(redactConfig(config)))
    .digest('hex')
}

/** What no log line may show (the logger scrubs it): the admin token in use, venue credentials, webhook URLs. */
export function secretsOf(config: HaltdConfig, adminToken: string): Secrets {
  const secrets = new Secrets()
  secrets.add(adminToken)
  for (const v of config.venues) if (v.kind === 'ccxt') for (const s of [v.apiKey, v.secret, v.password, v.uid]) secrets.add(s)
  for (const w of config.notify.webhooks) secrets.add(w.url)
  secrets.add(config.nats?.token)
  return secrets
}
