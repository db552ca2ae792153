import type { AuditReport } from '../audit-report.js'
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

const cell = (s: string): string => s.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replaceAll('\n', ' ')

function mdTable(t: Table, level = '##'): string {
  if (t.rows.length === 0) return `${level} ${t.title}\n\n_${t.empty}_\n`
  return [
    `${level} ${t.title}`,
    '',
    `| ${t.header.map(cell).join(' | ')} |`,
    `|${t.header.map(() => ' --- ').join('|')}|`,
    ...t.rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
    '',
  ].join('\n')
}

export function renderMarkdown(r: AuditReport): string {
  const [outcome, ...concerns] = outcomeLines(r)
  const out = [
    `# haltd audit: \`${r.file}\``,
    '',
    `**${cell(headline(r))}**`,
    '',
    `> **${cell(outcome!)}**`,
    ...concerns.map((c) => `> - ${cell(c.trim())}`),
    '',
    `- ${cell(chainLine(r))}`,
    `- ${cell(coverageLine(r))}`,
    `- ${cell(reconciliationLine(r))}`,
    `- ${cell(tradingLine(r))}`,
    `- generated ${r.generatedAt}`,
    '',
  ]
  out.push(mdTable(findingsTable(r)))
  out.push('## Shutdown timeline (newest shutdown first)\n')
  if (r.shutdowns.length === 0) out.push('_no shutdown in this log_\n')
  for (const { summary, outcome: o, timeline } of newestFirst(r)) {
    out.push(mdTable(timeline, '###'), `${cell(shutdownLine(summary))}\n`)
    if (o) out.push(`${cell(activityLine(o))}\n`, mdTable(exposureTable(o), '####'), mdTable(evidenceTable(o), '####'), mdTable(notificationsTable(o), '####'))
  }
  out.push(mdTable(reconciliationTable(r)), mdTable(positionsTable(r)), mdTable(openOrdersTable(r)), mdTable(runsTable(r)), mdTable(anomaliesTable(r)))
  return out.join('\n')
}
