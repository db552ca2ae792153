import type { HaltdEvent } from './catalogue.js'

/**
 * Where an event belongs (its stream) and what makes it a duplicate (its idempotency key).
 * Both follow from the event itself, so every writer derives them the same way.
 */
export function streamOf(event: HaltdEvent): string {
  const d = event.data as Record<string, unknown>
  const family = event.type.slice(0, event.type.indexOf('.'))
  switch (family) {
    case 'order':
      return orderStream(String(d.venue), String(d.clientOrderId))
    case 'venue':
    case 'marketdata':
      return `venue:${d.venue}`
    case 'market':
      return `market:${d.venue}:${d.symbol}`
    case 'strategy':
      return `strategy:${d.strategyId}`
    case 'shutdown':
      return `shutdown:${d.shutdownId}`
    case 'run':
      return 'run'
    case 'checkpoint':
      return 'checkpoint'
    case 'notification':
      return 'notification'
    case 'engine':
      return 'engine'
    case 'leadership':
      return 'leadership'
    case 'handover':
      return `handover:${d.handoverId}`
    case 'fleet':
      return 'fleet'
    case 'access':
      return 'access'
    default:
      // trading, killswitch, drain, deployments: the one trading-state stream
      return 'trading'
  }
}

/** One order's stream: everything haltd and the venue said about it. */
export function orderStream(venue: string, clientOrderId: string): string {
  return `order:${venue}:${clientOrderId}`
}

/**
 * The key under which an event may appear only once. Facts that happen once per order
 * (submitted, accepted, canceled…) are keyed by order, fills by trade id, decided commands by
 * command id. Events that may legitimately repeat have no key.
 */
export function idempotencyKeyOf(event: HaltdEvent): string | undefined {
  switch (event.type) {
    case 'order.submitted':
    case 'order.accepted':
    case 'order.rejected':
    case 'order.canceled':
    case 'order.expired':
      return orderEventKey(event.type, event.data.venue, event.data.clientOrderId)
    case 'order.filled':
      return `fill:${event.data.venue}:${event.data.tradeId}`
    case 'venue.trade-unresolved':
      return `trade-unresolved:${event.data.venue}:${event.data.tradeId}`
    case 'venue.order-unreadable': {
      // once per order (per trade) it names; one it cannot name is recorded as often as it is offered
      const d = event.data
      if (d.what === 'trade' ? d.tradeId === undefined : d.clientOrderId === undefined && d.venueOrderId === undefined) return undefined
      return `order-unreadable:${d.venue}:${d.what}:${d.clientOrderId ?? ''}:${d.venueOrderId ?? ''}:${d.tradeId ?? ''}`
    }
    case 'shutdown.requested':
      return `shutdown:${event.data.shutdownId}`
    case 'shutdown.command-issued':
      return `command:${event.data.commandId}`
    case 'shutdown.command-completed':
      return `command-done:${event.data.commandId}`
    case 'shutdown.completed':
      return `shutdown-done:${event.data.shutdownId}`
    case 'killswitch.activated':
    case 'killswitch.reset':
      // a fleet action is the same action wherever and however often an engine sees it
      return event.data.fleet ? `fleet:${event.type}:${event.data.fleet.id}` : undefined
    case 'run.started':
      return `run:${event.data.runId}`
    case 'leadership.acquired':
      return `leadership:${event.data.engine}:${event.data.epoch}`
    case 'leadership.lost':
      return `leadership-lost:${event.data.engine}:${event.data.epoch}`
    case 'handover.requested':
      return `handover:${event.data.handoverId}`
    case 'handover.completed':
      return `handover-done:${event.data.handoverId}`
    case 'run.ended':
    case 'run.crashed':
    case 'run.lease-expired':
      return `run-end:${event.data.runId}`
    case 'run.handed-over':
      return `run-handed-over:${event.data.runId}:${event.data.handoverId}`
    default:
      return undefined
  }
}

/** The idempotency key of a once-per-order event, for looking it up in the log. */
export function orderEventKey(
  type: 'order.submitted' | 'order.accepted' | 'order.rejected' | 'order.canceled' | 'order.expired',
  venue: string,
  clientOrderId: string,
): string {
  return `${type}:${venue}:${clientOrderId}`
}
