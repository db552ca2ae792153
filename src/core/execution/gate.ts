import type { Origin, OrderOrigin, TradingMode } from '../../events/primitives.js'

/** What the gate needs to know, read from the live projections at each check. */
export type GateView = {
  mode: TradingMode
  /** Why strategy orders are refused (strategies disabled, drain, pause), or undefined while they may trade. */
  strategyBlock: string | undefined
}

export type GateCandidate = { origin: OrderOrigin; reduceOnly: boolean }

/**
 * The order gate. It reads the trading state from the projections, and also holds a latch that
 * closes it synchronously, with no await and no write (a signal handler, or a log that cannot be
 * written), so that no order passes between the decision to stop and the event that records it.
 */
export class OrderGate {
  private latch: string | undefined
  private fences: (() => string | undefined)[] = []
  private cancelFences: ((origin: Origin | undefined) => string | undefined)[] = []

  constructor(private readonly view: () => GateView) {}

  /** Close the gate now. Only the shutdown's own reduce-only orders pass from here on. */
  halt(reason: string): void {
    this.latch ??= reason
  }

  /** Reopen a latch (after the operator reset the kill switch); the projected mode still applies. */
  release(): void {
    this.latch = undefined
  }

  get halted(): boolean {
    return this.latch !== undefined || this.view().mode === 'HALTED'
  }

  get latchReason(): string | undefined {
    return this.latch
  }

  /**
   * A condition beyond the trading state that refuses every order while it holds, the shutdown's
   * own included: this instance does not lead its engine, or its log has not left the node. Returns
   * the removal.
   */
  fence(check: () => string | undefined): () => void {
    this.fences = [...this.fences, check]
    return () => {
      this.fences = this.fences.filter((f) => f !== check)
    }
  }

  /**
   * A condition that refuses cancels too. Cancels pass a halted gate (they never add exposure),
   * so a fence on orders alone does not stop them: a planned handover refuses them while it
   * fences, so the releasing leader records and sends nothing its successor does not know of.
   * Returns the removal.
   */
  fenceCancels(check: (origin: Origin | undefined) => string | undefined): () => void {
    this.cancelFences = [...this.cancelFences, check]
    return () => {
      this.cancelFences = this.cancelFences.filter((f) => f !== check)
    }
  }

  /** Why a cancel asked for by `origin` may not be sent now, or undefined. */
  cancelRefusal(origin?: Origin): string | undefined {
    for (const check of this.cancelFences) {
      const reason = check(origin)
      if (reason !== undefined) return reason
    }
    return undefined
  }

  /** Why a fence refuses orders now, or undefined. */
  get fenced(): string | undefined {
    for (const check of this.fences) {
      const reason = check()
      if (reason !== undefined) return reason
    }
    return undefined
  }

  /** Undefined when the order may pass, else why it may not. */
  refusal(order: GateCandidate): string | undefined {
    const fenced = this.fences.length > 0 ? this.fenced : undefined
    if (fenced !== undefined) return fenced
    const view = this.view()
    const shutdownFlatten = order.origin.kind === 'shutdown' && order.reduceOnly
    if (this.latch !== undefined) return shutdownFlatten ? undefined : `trading is halted: ${this.latch}`
    if (view.mode === 'HALTED') return shutdownFlatten ? undefined : 'trading is HALTED'
    if (view.mode === 'REDUCING' && !order.reduceOnly) return 'trading is REDUCING: only reduce-only orders pass'
    // an engine entering orders beside haltd is held like a strategy: a drain or a pause stops its new orders too
    if ((order.origin.kind === 'strategy' || order.origin.kind === 'engine') && view.strategyBlock !== undefined)
      return `${order.origin.kind} orders are refused: ${view.strategyBlock}`
    return undefined
  }
}
