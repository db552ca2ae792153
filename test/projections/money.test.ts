import { describe, expect, it } from 'vitest'
import { quantityAt, stepDecimals } from '../../src/projections/money.js'

describe('quantities at the market precision', () => {
  it('given a step, the decimals it needs', () => {
    // a step with float noise of its own (0.1 + 0.2) still reads as one decimal
    expect([0.001, 0.01, 0.5, 0.25, 1, 5, 1e-8, 0.1 + 0.2].map(stepDecimals)).toEqual([3, 2, 1, 2, 0, 0, 8, 1])
    expect([undefined, 0, -1, Number.NaN].map(stepDecimals)).toEqual([undefined, undefined, undefined, undefined])
  })

  it('given a step, the figure rounds to it; without one, 8 decimals, and never float noise or -0', () => {
    expect(quantityAt(-0.019999999999999997, 0.001)).toBe('-0.02')
    expect(quantityAt(0.0123456789, 0.001)).toBe('0.012')
    expect(quantityAt(64_123.456, 0.1)).toBe('64123.5')
    expect(quantityAt(0.0123456789, undefined)).toBe('0.01234568')
    expect(quantityAt(-0.0004, 0.001)).toBe('0')
  })
})
