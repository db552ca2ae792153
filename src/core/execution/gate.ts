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
  /** Why it is latched, oldest first: each cause is released by whoever latched for it, and the gate opens only when none is left. */
  private readonly latches = new Set<string>()
  private fences: (() => string | undefined)[] = []
  private cancelFences: ((origin: Origin | undefined) => string | undefined)[] = []

  constructor(private readonly view: () => GateView) {}

  /** Close the gate now. Only the shutdown's own reduce-only orders pass from here on. */
  halt(reason: string): void {
    this.latches.add(reason)
  }

  /**
   * Take back the latches `which` names (a reason, or those a test picks; all without it), as the
   * cause that latched them ends (the operator reset the kill switch, the fleet is in view again).
   * Latches for other causes stay; the projected mode still applies. True if one was taken back.
   */
  release(which?: string | ((reason: string) => boolean)): boolean {
    if (which === undefined) {
      const had = this.latches.size > 0
      this.latches.clear()
      return had
    }
    if (typeof which === 'string') return this.latches.delete(which)
    let released = false
    for (const r of [...this.latches]) if (which(r)) released = this.latches.delete(r) || released
    return released
  }

  get halted(): boolean {
    return this.latches.size > 0 || this.view().mode === 'HALTED'
  }

  /** The first cause that latched it, while any is latched. */
  get latchReason(): string | undefined {
    return this.latches.values().next().value
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
    const latched = this.latchReason
    if (latched !== undefined) return shutdownFlatten ? undefined : `trading is halted: ${latched}`
    if (view.mode === 'HALTED') return shutdownFlatten ? undefined : 'trading is HALTED'
    if (view.mode === 'REDUCING' && !order.reduceOnly) return 'trading is REDUCING: only reduce-only orders pass'
    // an engine entering orders beside haltd is held like a strategy: a drain or a pause stops its new orders too
    if ((order.origin.kind === 'strategy' || order.origin.kind === 'engine') && view.strategyBlock !== undefined)
      return `${order.origin.kind} orders are refused: ${view.strategyBlock}`
    return undefined
  }
}
