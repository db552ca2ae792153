import { z } from 'zod'
import { HaltdError } from '../../events/errors.js'
import { VENUE_CALLS } from '../gateway.js'

/** A simulated venue was configured with something it cannot use; `field` names what. */
export class InvalidSimConfig extends HaltdError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super('INVALID_SIM_CONFIG', `invalid simulated venue config: ${field ? `${field}: ` : ''}${detail}`)
  }
}

export const SimMethod = z.enum(VENUE_CALLS)
export type SimMethod = z.infer<typeof SimMethod>

const Ms = z.number().finite().nonnegative()
const Probability = z.number().min(0).max(1)

/**
 * How long a call takes, in real milliseconds: a fixed number, uniform between two bounds, or a
 * list of [percentile, ms] points interpolated linearly (e.g. [[0.5, 5], [0.99, 80], [1, 400]]).
 * 0 answers on the next microtask, so zero-latency benchmarks measure haltd, not timers.
 */
export const Latency = z.union(
  [
    Ms,
    z.strictObject({ minMs: Ms, maxMs: Ms }).refine((u) => u.minMs <= u.maxMs, { message: 'minMs must not exceed maxMs' }),
    z.strictObject({
      percentiles: z
        .array(z.tuple([Probability, Ms]))
        .min(1)
        .refine((pts) => pts.every((pt, i) => i === 0 || (pt[0] > pts[i - 1]![0] && pt[1] >= pts[i - 1]![1])), {
          message: 'percentile points must rise in both percentile and ms',
        }),
    }),
  ],
  { error: 'milliseconds, {"minMs": …, "maxMs": …} or {"percentiles": [[0.5, ms], …]}' },
)
export type Latency = z.infer<typeof Latency>

/** Faults a simulated venue injects. Every random choice comes from the venue's seed. */
export const FaultConfig = z.strictObject({
  latency: Latency.optional(),
  /** Overrides `latency` for the named methods. */
  latencyByMethod: z.partialRecord(SimMethod, Latency).optional(),
  /** Probability that the venue refuses a submit (kind `rejected`; nothing is created). */
  rejectRate: Probability.optional(),
  /** 429s: at random with `probability` on any call, and/or from a token bucket on order calls. */
  rateLimit: z
    .strictObject({
      probability: Probability.optional(),
      ordersPerSecond: z.number().finite().positive().optional(),
      burst: z.number().int().positive().optional(),
    })
    .optional(),
  /** Calls that never answer: every call (`true`) or only the named methods. Released by close(). */
  hang: z.union([z.boolean(), z.array(SimMethod)], { error: 'true, false, or a list of the methods that hang' }).optional(),
  /** Probability that a submit is accepted at the venue but its answer is lost (kind `timeout`). */
  loseResponse: Probability.optional(),
  /** Probability that a cancel arrives after the order filled: the fill is emitted, the cancel answers not-found. */
  fillRacesCancel: Probability.optional(),
})
export type FaultConfig = z.infer<typeof FaultConfig>

export const SimSymbolConfig = z.strictObject({
  /** Unified symbol: `BTC/USDT` (spot) or `BTC/USDT:USDT` (settled in USDT); base and quote come from it. */
  symbol: z.string().regex(/^[A-Za-z0-9]+\/[A-Za-z0-9]+(:[A-Za-z0-9]+)?$/, 'expected BASE/QUOTE or BASE/QUOTE:SETTLE'),
  mid: z.number().finite().positive(),
  amountStep: z.number().finite().positive(),
  priceStep: z.number().finite().positive(),
  minQty: z.number().finite().positive().optional(),
  /** Full bid–ask spread in basis points of the mid (at least one price step). */
  spreadBps: z.number().finite().nonnegative().default(2),
  /** Standard deviation of one tick's move, in basis points of the mid. */
  volatilityBps: z.number().finite().nonnegative().default(5),
})
export type SimSymbolConfig = z.output<typeof SimSymbolConfig>

export const CapabilitiesOverride = z
  .strictObject({
    massCancel: z.enum(['account', 'per-symbol', 'none']),
    batchCancel: z.number().int().nonnegative(),
    deadMansSwitch: z.enum(['countdown', 'cancel-on-disconnect', 'none']),
    reduceOnly: z.boolean(),
    streamingUpdates: z.boolean(),
    positions: z.boolean(),
  })
  .partial()

export const SimConfig = z.strictObject({
  venue: z.string().min(1).max(64),
  seed: z.number().int(),
  /**
   * Part of every order and trade id this venue hands out, so ids stay unique across restarts of
   * the same venue the way a real venue's do (a log keys fills by trade id). Defaults to the
   * clock's time at construction, in base 36; fix it to make ids repeat run after run.
   */
  idEpoch: z
    .string()
    .regex(/^[A-Za-z0-9]{1,16}$/, 'expected 1 to 16 letters or digits')
    .optional(),
  mode: z.enum(['derivatives', 'spot']),
  /**
   * A SQLite file where the venue keeps its orders, positions, balances and prices, so that it
   * outlives the process as a real venue does (haltd killed and restarted finds them there).
   * Without it the venue lives in memory and starts afresh with every process. One process at a
   * time uses a file (the demo's sits beside its log, whose writer lock keeps it so).
   */
  stateFile: z.string().min(1).optional(),
  symbols: z.array(SimSymbolConfig).min(1),
  capabilities: CapabilitiesOverride.optional(),
  faults: FaultConfig.optional(),
  fees: z.strictObject({ makerBps: z.number().finite(), takerBps: z.number().finite() }).default({ makerBps: 2, takerBps: 5 }),
  /** Starting balances per asset; by default 1,000,000 of each quote asset and (spot) as much of each base. */
  balances: z.record(z.string().min(1), z.number().finite().nonnegative()).optional(),
  /** A market order fills in 1..maxFillParts partial fills (seeded). */
  maxFillParts: z.number().int().positive().default(3),
})
export type SimConfig = z.output<typeof SimConfig>

/** Parses with zod and turns the first problem into an InvalidSimConfig naming the field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.')
  throw new InvalidSimConfig(path, issue.message)
}
