/** An amount to the cent, never "-0.00": a loss too small to show is no loss. */
export function money(n: number): string {
  const cents = Math.round(n * 100)
  return (cents === 0 ? 0 : cents / 100).toFixed(2)
}

/**
 * A quantity or price as people read it: rounded to `decimals` places (8 by default, finer than
 * any venue's step), without float noise, trailing zeros, exponents or "-0". `-0.019999999999999997`
 * prints `-0.02`. For text only: JSON keeps the number as it is.
 */
export function quantity(n: number, decimals = 8): string {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 1e21) return String(n)
  const fixed = n.toFixed(decimals)
  const trimmed = fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed
  return trimmed === '-0' ? '0' : trimmed
}

/** The decimal places a market's step needs (0.001 → 3, 0.5 → 1, 0.25 → 2, 5 → 0); undefined for no usable step. */
export function stepDecimals(step: number | undefined): number | undefined {
  if (step === undefined || !Number.isFinite(step) || step <= 0) return undefined
  for (let d = 0; d <= 12; d++) {
    const scaled = step * 10 ** d
    if (Math.abs(scaled - Math.round(scaled)) <= 1e-9 * Math.max(1, scaled)) return d
  }
  return 12
}

/** A quantity or price at its market's precision (the step the venue reported) where known, else `quantity`'s 8 decimals. */
export function quantityAt(n: number, step: number | undefined): string {
  return quantity(n, stepDecimals(step) ?? 8)
}
