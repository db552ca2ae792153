import type { AuditReport } from '../audit-report.js'
import { table } from './format.js'
import {
  activityLine,
  anomaliesTable,
  chainLine,
  coverageLine,
  evidenceTable,
  exposureTable,
  findingsTable,
  headline,
  newestFirst,
  notificationsTable,
  openOrdersTable,
  outcomeLines,
  positionsTable,
  reconciliationLine,
  reconciliationTable,
  runsTable,
  shutdownLine,
  tradingLine,
  type Table,
} from './sections.js'

const section = (t: Table): string => `${t.title}\n${t.rows.length ? table(t.header, t.rows) : `  (${t.empty})`}\n`

export function renderText(r: AuditReport): string {
  const out = [`haltd audit of ${r.file}`, headline(r), ...outcomeLines(r), chainLine(r), coverageLine(r), reconciliationLine(r), tradingLine(r), '']
  out.push(section(findingsTable(r)))
  if (r.shutdowns.length === 0) out.push('Shutdowns\n  (none in this log)\n')
  for (const { summary, outcome, timeline } of newestFirst(r)) {
    out.push(`${section(timeline)}  ${shutdownLine(summary)}\n`)
    if (outcome)
      out.push(`  ${activityLine(outcome)}\n`, section(exposureTable(outcome)), section(evidenceTable(outcome)), section(notificationsTable(outcome)))
  }
  out.push(section(reconciliationTable(r)), section(positionsTable(r)), section(openOrdersTable(r)), section(runsTable(r)), section(anomaliesTable(r)))
  return out.join('\n')
}
