/**
 * Just enough YAML to read the Kubernetes example: block mappings and sequences by indentation,
 * flow sequences of scalars, quoted and plain scalars, comments. Anything else is an error, so a
 * change to the example that this cannot read fails loudly instead of passing unread.
 */
export type Yaml = string | number | boolean | null | Yaml[] | { [k: string]: Yaml }

type Line = { indent: number; text: string; no: number }

function stripComment(s: string): string {
  let quote: string | undefined
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (quote) {
      if (c === quote) quote = undefined
    } else if (c === '"' || c === "'") quote = c
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) return s.slice(0, i)
  }
  return s
}

function scalar(raw: string, no: number): Yaml {
  const s = raw.trim()
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) throw new Error(`line ${no}: unterminated flow sequence`)
    const inner = s.slice(1, -1).trim()
    if (inner === '') return []
    const items: string[] = []
    let cur = ''
    let quote: string | undefined
    for (const c of inner) {
      if (quote) {
        cur += c
        if (c === quote) quote = undefined
      } else if (c === '"' || c === "'") {
        quote = c
        cur += c
      } else if (c === ',') {
        items.push(cur)
        cur = ''
      } else cur += c
    }
    items.push(cur)
    return items.map((i) => scalar(i, no))
  }
  if ((s.startsWith('"') && s.endsWith('"')) || (s.startsWith("'") && s.endsWith("'"))) return s.slice(1, -1)
  if (s === 'true' || s === 'false') return s === 'true'
  if (s === 'null' || s === '~' || s === '') return null
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s)
  if (/^[{&*!|>]/.test(s)) throw new Error(`line ${no}: unsupported YAML: ${s}`)
  return s
}

export function parseYaml(text: string): Yaml {
  const lines: Line[] = []
  text.split('\n').forEach((raw, i) => {
    if (raw.includes('\t')) throw new Error(`line ${i + 1}: tab in indentation`)
    const body = stripComment(raw).trimEnd()
    if (body.trim() === '' || body.trim() === '---') return
    lines.push({ indent: body.length - body.trimStart().length, text: body.trim(), no: i + 1 })
  })
  let i = 0
  const block = (indent: number): Yaml => (lines[i]!.text.startsWith('- ') || lines[i]!.text === '-' ? list(indent) : map(indent))
  const map = (indent: number): Yaml => {
    const out: Record<string, Yaml> = {}
    while (i < lines.length && lines[i]!.indent === indent && !lines[i]!.text.startsWith('- ')) {
      const { text, no } = lines[i]!
      const m = /^("[^"]*"|'[^']*'|[^:]+?):(?:\s+(.*))?$/.exec(text)
      if (!m) throw new Error(`line ${no}: expected 'key: value', got '${text}'`)
      const key = String(scalar(m[1]!, no))
      i++
      if (m[2] !== undefined && m[2] !== '') out[key] = scalar(m[2], no)
      else if (i < lines.length && (lines[i]!.indent > indent || (lines[i]!.indent === indent && lines[i]!.text.startsWith('- '))))
        out[key] = block(lines[i]!.indent)
      else out[key] = null
    }
    return out
  }
  const list = (indent: number): Yaml => {
    const out: Yaml[] = []
    while (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith('- ')) {
      const line = lines[i]!
      const item = line.text.slice(2)
      if (/^[^"'[][^:]*:(\s|$)/.test(item)) {
        // "- key: value" opens a mapping whose keys sit two columns in
        lines[i] = { indent: indent + 2, text: item, no: line.no }
        out.push(map(indent + 2))
      } else {
        out.push(scalar(item, line.no))
        i++
      }
    }
    return out
  }
  const doc = block(lines[0]!.indent)
  if (i < lines.length) throw new Error(`line ${lines[i]!.no}: unexpected indentation`)
  return doc
}

/** systemd unit files: sections of `Key=Value` lines; a key may repeat. */
export function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {}
  let section: Record<string, string[]> | undefined
  text.split('\n').forEach((raw, n) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return
    const head = /^\[([A-Za-z]+)\]$/.exec(line)
    if (head) {
      section = out[head[1]!] ??= {}
      return
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line)
    if (!kv || !section) throw new Error(`line ${n + 1}: not a unit file line: '${line}'`)
    section[kv[1]!] ??= []
    section[kv[1]!]!.push(kv[2]!)
  })
  return out
}
