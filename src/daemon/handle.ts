import type { EventEmitter } from 'eventemitter3'
import type { OrderRouter } from '../core/execution/order-router.js'
import { EXIT } from '../core/shutdown/exit-codes.js'
import type { DaemonLifecycle } from './lifecycle.js'
import type { Haltd, HaltdEvents } from './types.js'

/** What `createHaltd` hands its caller: the parts to read, and the router, shutdowns and events through the lifecycle. */
export function haltdHandle(
  parts: Omit<Haltd, 'orders' | 'shutdown' | 'on' | 'close' | 'exited'> & {
    router: Pick<OrderRouter, 'submit' | 'cancel'>
    life: Pick<DaemonLifecycle, 'requestShutdown' | 'close' | 'exited'>
    emitter: EventEmitter<HaltdEvents>
  },
): Haltd {
  const { router, life, emitter } = parts
  return {
    runId: parts.runId,
    config: parts.config,
    log: parts.log,
    logger: parts.logger,
    gate: parts.gate,
    venues: parts.venues,
    risk: parts.risk,
    startup: parts.startup,
    state: parts.state,
    status: parts.status,
    orders: { submit: (o) => router.submit(o), cancel: (ref, opts) => router.cancel(ref, opts) },
    strategies: parts.strategies,
    admin: parts.admin,
    orderEntry: parts.orderEntry,
    handover: parts.handover,
    shutdown: (r) => life.requestShutdown(r.mode, r.reason, r.origin ?? 'api').done,
    on: (name, listener) => {
      emitter.on(name, listener as never)
      return () => void emitter.off(name, listener as never)
    },
    close: (code = EXIT.clean) => life.close(code),
    exited: life.exited,
  }
}
