import type { ReplayView } from '../state-view.js'
import { clock, duration, iso, money, num, table } from './format.js'
import { unpricedWords } from './sections.js'

/** Events not applied that the text names one by one; the rest are counted (--json lists more). */
const NOT_APPLIED_SHOWN = 10

/**
 * `haltd replay` without --json: the state at a glance, the way a status screen would show it.
 * `lastSeq` is the log's last seq when the replay opened it (a live writer may have added more).
 */
export function renderReplayText(v: ReplayView, context: { lastSeq: number }): string {
  const out: string[] = []
  const where = v.seq === context.lastSeq ? `seq ${v.seq}, the end of the log when replay opened it` : `seq ${v.seq} of ${context.lastSeq}`
  out.push(`state as of ${where} (${iso(v.ts || null)}), state hash ${v.stateHash.slice(0, 16)}…`)
  out.push(...notAppliedLines(v.notApplied))
  out.push(
    `trading ${v.tradingState}; kill switch ${v.killSwitch.latched ? `LATCHED (${v.killSwitch.reason})` : 'not latched'}; drain ${v.drain}${v.paused ? '; paused' : ''}${v.deploymentsLocked ? '; deployments locked' : ''}`,
  )
  out.push(
    `P&L realized ${money(v.pnl.realized)}, unrealized ${money(v.pnl.unrealized)}, fees ${money(v.pnl.fees)}, net ${money(v.pnl.net)}${unpricedWords(v.pnl.unpriced)}; anomalies ${v.anomalies.total}`,
    '',
  )
  out.push(`open orders: ${v.openOrders.length}`)
  if (v.openOrders.length) {
    out.push(
      table(
        ['venue', 'client order id', 'symbol', 'side', 'qty', 'filled', 'price', 'status', 'origin'],
        v.openOrders.slice(0, 50).map((o) => [o.venue, o.clientOrderId, o.symbol, o.side, num(o.qty), num(o.filledQty), num(o.price), o.status, o.origin]),
      ),
    )
    if (v.openOrders.length > 50) out.push(`… and ${v.openOrders.length - 50} more (--json lists them all)`)
  }
  out.push('', `positions: ${v.positions.filter((p) => p.qty !== 0).length} open`)
  if (v.positions.length)
    out.push(
      table(
        ['venue', 'symbol', 'qty', 'avg entry', 'realized', 'unrealized'],
        v.positions.map((p) => [p.venue, p.symbol, num(p.qty), num(p.avgEntry, 4), money(p.realized), p.unpriced ? 'UNPRICED' : money(p.unrealized)]),
      ),
    )
  for (const s of v.shutdowns) {
    out.push(
      '',
      `shutdown ${s.shutdownId} (${s.mode ?? 'unknown mode'}): ${s.completedAt !== null ? `completed ${s.outcome}, exit ${s.exitCode}` : `in progress, status ${s.status ?? 'unknown'}`}`,
    )
    out.push(
      table(
        ['step', 'name', 'start', 'end', 'duration', 'outcome'],
        s.steps.map((st) => [String(st.number), st.name, clock(st.startedAt), clock(st.endedAt), duration(st.durationMs), st.outcome]),
      ),
    )
  }
  return `${out.join('\n')}\n`
}

/**
 * The events the replay read but could not apply, near the top: the state below lacks whatever
 * they say (a fill not booked, an order not known), so a reader must not take it for the whole.
 */
function notAppliedLines(notApplied: ReplayView['notApplied']): string[] {
  const { total, first } = notApplied
  if (total === 0) return []
  const shown = first.slice(0, NOT_APPLIED_SHOWN)
  const lines = [
    `INCOMPLETE: ${total} event${total === 1 ? '' : 's'} not applied, so the state below lacks what ${total === 1 ? 'it says' : 'they say'} (haltd audit names ${total === 1 ? 'it' : 'them'} too):`,
    ...shown.map((e) => `  seq ${e.seq} ${e.type}${e.v === undefined ? '' : ` v${e.v}`}: ${e.why}`),
  ]
  if (total > shown.length) lines.push(`  … and ${total - shown.length} more (--json lists the first ${first.length})`)
  return lines
}
