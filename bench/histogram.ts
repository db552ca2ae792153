/**
 * An exact latency recorder: every sample is kept (8 bytes each) and percentiles are read from
 * the sorted samples by nearest rank. A benchmark records at most a few hundred thousand
 * operations, so exactness costs a few megabytes and no bucketing error.
 */
export type Percentiles = { p50: number; p99: number; p999: number }

export class Histogram {
  private values: Float64Array
  private n = 0
  private sorted = true

  constructor(capacity = 1024) {
    this.values = new Float64Array(Math.max(16, capacity))
  }

  get count(): number {
    return this.n
  }

  record(value: number): void {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`a latency must be a finite non-negative number, got ${value}`)
    if (this.n === this.values.length) {
      const grown = new Float64Array(this.values.length * 2)
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.n++] = value
    this.sorted = false
  }

  /** The smallest recorded value v such that at least q of all values are <= v (0 < q <= 1). */
  quantile(q: number): number {
    if (!(q > 0 && q <= 1)) throw new RangeError(`a quantile must be in (0, 1], got ${q}`)
    if (this.n === 0) return Number.NaN
    const view = this.view()
    return view[Math.min(this.n, Math.ceil(q * this.n)) - 1]!
  }

  percentiles(): Percentiles {
    return { p50: this.quantile(0.5), p99: this.quantile(0.99), p999: this.quantile(0.999) }
  }

  min(): number {
    return this.n === 0 ? Number.NaN : this.view()[0]!
  }

  max(): number {
    return this.n === 0 ? Number.NaN : this.view()[this.n - 1]!
  }

  toArray(): number[] {
    return Array.from(this.values.subarray(0, this.n))
  }

  private view(): Float64Array {
    const view = this.values.subarray(0, this.n)
    if (!this.sorted) {
      view.sort()
      this.sorted = true
    }
    return view
  }
}

/** Percentiles of a list of samples (any unit; the result is in the same unit). */
export function percentilesOf(samples: readonly number[]): Percentiles {
  const h = new Histogram(samples.length)
  for (const s of samples) h.record(s)
  return h.percentiles()
}
