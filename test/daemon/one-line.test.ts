import { describe, expect, it } from 'vitest'
import { oneLine } from '../../src/cli/output.js'

describe('text from outside, printed by the CLI', () => {
  it('given a reason with line breaks, controls and bidirectional overrides, when printed, then it stays one visible line', () => {
    const forged = 'probe)\nkill switch: not latched\r\tstate\u001b[2J \u202e(nimda) ssob yb'
    const shown = oneLine(forged)
    expect(shown).toBe('probe)\\nkill switch: not latched\\r\\tstate\\u{1b}[2J \\u{202e}(nimda) ssob yb')
    expect(shown.split('\n')).toHaveLength(1)
  })

  it('leaves printable text of any script as it is', () => {
    expect(oneLine('fin de séance — 市場休場 ✓')).toBe('fin de séance — 市場休場 ✓')
  })
})
