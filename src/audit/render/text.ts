import type { AuditReport } from '../audit-report.js'
import { table } from './format.js'
import {
  anomaliesTable,
  chainLine,
  coverageLine,
  findingsTable,
  headline,
  openOrdersTable,
  positionsTable,
  reconciliationLine,
  reconciliationTable,
  runsTable,
  shutdownLine,
  timelineTables,
  tradingLine,
  type Table,
} from './sections.js'

const section = (t: Table): string => `${t.title}\n${t.rows.length ? table(t.header, t.rows) : `  (${t.empty})`}\n`

export function renderText(r: AuditReport): string {
  const out = [`haltd audit of ${r.file}`, headline(r), reconciliationLine(r), chainLine(r), coverageLine(r), tradingLine(r), '']
  out.push(section(findingsTable(r)))
  if (r.shutdowns.length === 0) out.push('Shutdowns\n  (none in this log)\n')
  const timelines = timelineTables(r)
  r.shutdowns.forEach((s, i) => {
    out.push(`${section(timelines[i]!)}  ${shutdownLine(s)}\n`)
  })
  out.push(section(reconciliationTable(r)), section(positionsTable(r)), section(openOrdersTable(r)), section(runsTable(r)), section(anomaliesTable(r)))
  return out.join('\n')
}
