import { z } from 'zod'
import { HaltdError } from '../../events/errors.js'
import type { FieldProblem } from '../../events/errors.js'

/**
 * What a tripped trigger does. REDUCING: only reduce-only orders pass. HALTED: the gate closes.
 * EMERGENCY: HALTED, then the emergency shutdown path starts.
 */
export const KillAction = z.enum(['REDUCING', 'HALTED', 'EMERGENCY'])
export type KillAction = z.infer<typeof KillAction>

const Ms = z.number().int().positive()

/** Kill-switch triggers; each is off unless configured. A trigger trips when its reading reaches its threshold. */
export const RiskConfig = z.strictObject({
  /** Mark-to-market equity below its peak: realized − fees + unrealized, as the P&L projection keeps it. */
  drawdown: z
    .strictObject({
      max: z.number().finite().positive(),
      /** `quote`: in quote currency. `percent`: of capital + peak P&L (needs `capital`). */
      unit: z.enum(['quote', 'percent']).default('quote'),
      /** Account equity the P&L is measured on; only used for `percent`. */
      capital: z.number().finite().positive().optional(),
      action: KillAction.default('HALTED'),
    })
    .refine((d) => d.unit !== 'percent' || d.capital !== undefined, { message: 'a drawdown in percent needs `capital`', path: ['capital'] })
    .optional(),
  /** Sum over every venue and symbol of |position| × mark (the entry price where no mark is known yet). */
  grossNotional: z.strictObject({ max: z.number().finite().positive(), action: KillAction.default('REDUCING') }).optional(),
  /** Rejected orders and venue errors within a sliding window. */
  errorBurst: z
    .strictObject({
      max: z.number().int().positive(),
      windowMs: Ms,
      action: KillAction.default('HALTED'),
    })
    .optional(),
  /** No market data from a subscribed venue for this long. */
  feedLoss: z.strictObject({ maxSilenceMs: Ms, action: KillAction.default('HALTED') }).optional(),
  /** How often the timer re-checks the triggers that time alone can trip (feed loss, the window emptying). */
  checkIntervalMs: Ms.default(500),
})
export type RiskConfig = z.output<typeof RiskConfig>
export type RiskConfigInput = z.input<typeof RiskConfig>
export type TriggerName = 'drawdown' | 'grossNotional' | 'errorBurst' | 'feedLoss'

export class InvalidRiskConfig extends HaltdError {
  constructor(readonly problems: FieldProblem[]) {
    super('INVALID_RISK_CONFIG', `invalid risk config: ${problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ')}`)
  }
}

/** Parses the `risk` section of the config, listing every problem with its field (`risk.drawdown.max`). */
export function parseRiskConfig(input: unknown): RiskConfig {
  const result = RiskConfig.safeParse(input ?? {})
  if (result.success) return result.data
  throw new InvalidRiskConfig(result.error.issues.map((i) => ({ path: ['risk', ...i.path.map(String)].join('.'), message: i.message })))
}
