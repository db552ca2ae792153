import type { AuditReport } from '../audit-report.js'
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
  const out = [
    `# haltd audit: \`${r.file}\``,
    '',
    `**${cell(headline(r))}**`,
    '',
    `- ${cell(reconciliationLine(r))}`,
    `- ${cell(chainLine(r))}`,
    `- ${cell(coverageLine(r))}`,
    `- ${cell(tradingLine(r))}`,
    `- generated ${r.generatedAt}`,
    '',
  ]
  out.push(mdTable(findingsTable(r)))
  out.push('## Shutdown timeline\n')
  if (r.shutdowns.length === 0) out.push('_no shutdown in this log_\n')
  const timelines = timelineTables(r)
  r.shutdowns.forEach((s, i) => {
    out.push(mdTable(timelines[i]!, '###'), `${cell(shutdownLine(s))}\n`)
  })
  out.push(mdTable(reconciliationTable(r)), mdTable(positionsTable(r)), mdTable(openOrdersTable(r)), mdTable(runsTable(r)), mdTable(anomaliesTable(r)))
  return out.join('\n')
}
