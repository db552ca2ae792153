/** An amount to the cent, never "-0.00": a loss too small to show is no loss. */
export function money(n: number): string {
  const cents = Math.round(n * 100)
  return (cents === 0 ? 0 : cents / 100).toFixed(2)
}
