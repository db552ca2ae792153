import type { Clock } from '../events/clock.js'
import { bookKey, openOrders, order as orderOf, type HaltdState } from '../projections/index.js'
import { MarketMaker, MomentumTaker, StrategyHost, type StrategyBook } from '../strategies/index.js'
import type { EventLog } from '../core/log/event-log.js'
import type { OrderRouter } from '../core/execution/order-router.js'
import type { HaltdConfig } from './config.js'
import type { Logger } from './logger.js'
import { restoreStrategyState } from './strategy-restore.js'
import type { StrategyEntry } from './types.js'

/** The strategies a run starts with: the config's, then the embedder's. */
function strategyEntries(config: HaltdConfig, embedded: readonly StrategyEntry[] = []): StrategyEntry[] {
  return [...config.strategies.map(strategyOf), ...embedded]
}

function strategyOf(s: HaltdConfig['strategies'][number]): StrategyEntry {
  const { kind, enabled, limits, ...params } = s
  return { strategy: kind === 'market-maker' ? new MarketMaker(params as never) : new MomentumTaker(params as never), limits, enabled }
}

export type Strategies = {
  host: StrategyHost
  /**
   * Build and register the run's strategies, the config's then the embedder's (disabled while
   * haltd comes up halted), and restore their state from the last checkpoint. Returns the ones
   * that would have traded but for the halt.
   */
  deploy(options: { halted: boolean }): string[]
}

/** The strategy host, sending through the router and reading its books from the projections. */
export function createStrategies(input: {
  router: OrderRouter
  log: EventLog
  clock: Clock
  state: () => HaltdState
  logger: Logger
  config: HaltdConfig
  /** The embedder's strategies, after the config's. */
  embedded: readonly StrategyEntry[] | undefined
}): Strategies {
  const { state, log, logger } = input
  // The strategies a run starts with are its deployment; the lock guards changes to a running daemon.
  let deployed = false
  const host = new StrategyHost({
    sink: input.router,
    recorder: log,
    clock: input.clock,
    lockedBecause: () => {
      const lock = state().trading.deploymentsLocked
      return deployed && lock ? `${lock.reason}, by ${lock.origin}` : undefined
    },
    book: strategyBook(state),
  })
  return {
    host,
    deploy({ halted }) {
      const entries = strategyEntries(input.config, input.embedded)
      for (const e of entries) host.register(e.strategy, { limits: e.limits, enabled: (e.enabled ?? true) && !halted })
      if (entries.length > 0) {
        const r = restoreStrategyState(log, host)
        if ('skipped' in r) logger.info(`strategy state starts fresh: ${r.skipped}`)
        else logger.info({ restored: r.restored, unknown: r.unknown, checkpoint: r.path, atSeq: r.atSeq }, 'strategy state restored from the last checkpoint')
      }
      deployed = true
      return halted ? entries.filter((e) => e.enabled ?? true).map((e) => e.strategy.id) : []
    },
  }
}

/** The strategies' book, read from the projections: their positions, their live orders, who owns an order. */
export function strategyBook(state: () => HaltdState): StrategyBook {
  return {
    position: (id, venue, symbol) => state().books.get(bookKey(venue, symbol, id))?.qty ?? 0,
    openOrders: (id) =>
      openOrders(state())
        .filter((o) => o.origin.kind === 'strategy' && o.origin.id === id)
        .map((o) => ({
          venue: o.venue,
          clientOrderId: o.clientOrderId,
          symbol: o.symbol,
          side: o.side,
          qty: o.qty,
          filledQty: o.filledQty,
          reduceOnly: o.reduceOnly,
          ...(o.price !== undefined ? { price: o.price } : {}),
        })),
    ownerOf: (venue, clientOrderId) => {
      const o = orderOf(state(), venue, clientOrderId)
      return o?.origin.kind === 'strategy' ? o.origin.id : undefined
    },
  }
}
