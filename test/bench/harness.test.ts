import { describe, expect, it } from 'vitest'
import { Histogram, percentilesOf } from '../../bench/histogram.js'
import { emergencyName, measure, measureInterleaved, parseEmergencyName, ratio, targetMet } from '../../bench/harness.js'
import { renderHtml } from '../../bench/report-html.js'
import { reportResults, settleComparisons, type Report, type ScenarioRun } from '../../bench/report.js'

describe('the exact histogram', () => {
  it('reads percentiles by nearest rank from every recorded value', () => {
    const h = new Histogram(4) // grows past its first capacity
    for (let v = 1000; v >= 1; v--) h.record(v)
    expect(h.count).toBe(1000)
    expect(h.percentiles()).toEqual({ p50: 500, p99: 990, p999: 999 })
    expect(h.min()).toBe(1)
    expect(h.max()).toBe(1000)
    expect(percentilesOf([7])).toEqual({ p50: 7, p99: 7, p999: 7 })
  })

  it('refuses a negative or non-finite latency instead of skewing the percentiles', () => {
    const h = new Histogram()
    expect(() => h.record(-1)).toThrow(RangeError)
    expect(() => h.record(Number.NaN)).toThrow(RangeError)
    expect(Number.isNaN(new Histogram().quantile(0.5))).toBe(true)
  })
})

describe('measure', () => {
  it('runs warm-up then repetitions × ops, hands each call a fresh index, and times every op', async () => {
    const seen: number[] = []
    const m = await measure(
      (i) => {
        seen.push(i)
      },
      { warmup: 3, repetitions: 4, opsPerRep: 5 },
    )
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => i))
    expect(m.samples).toHaveLength(4)
    expect(m.latenciesNs).toHaveLength(20)
    expect(m.min).toBeLessThanOrEqual(m.median)
    expect(m.median).toBeLessThanOrEqual(m.max)
  })

  it('interleaves the repetitions of the operations it compares, rotating who goes first', async () => {
    const order: string[] = []
    await measureInterleaved([
      { fn: async () => void order.push('a'), options: { warmup: 0, repetitions: 3, opsPerRep: 1 } },
      { fn: () => void order.push('b'), options: { warmup: 0, repetitions: 3, opsPerRep: 1, latencies: false } },
      { fn: () => void order.push('c'), options: { warmup: 0, repetitions: 3, opsPerRep: 1 } },
    ])
    expect(order.join('')).toBe('abcbcacab')
    await expect(
      measureInterleaved([
        { fn: () => {}, options: { warmup: 0, repetitions: 2, opsPerRep: 1 } },
        { fn: () => {}, options: { warmup: 0, repetitions: 3, opsPerRep: 1 } },
      ]),
    ).rejects.toThrow(/same number of repetitions/)
  })
})

describe('comparisons and targets', () => {
  const run = (results: Parameters<typeof reportResults>[1]): ScenarioRun => ({
    name: 's',
    description: 'd',
    file: 's',
    durationMs: 1,
    peakRssBytes: 1,
    results: reportResults('s', results),
  })

  it('fills each ratio from the baseline measured in the same run and judges the target, never throwing on a miss', () => {
    const runs = [
      run([
        { name: 'raw', unit: 'events/s', value: 1000 },
        { name: 'fast', unit: 'events/s', value: 800, baseline: 'raw', target: { op: '>=', value: 0.7, of: 'ratio' } },
        { name: 'slow', unit: 'events/s', value: 500, baseline: 'raw', target: { op: '>=', value: 0.7, of: 'ratio' } },
        { name: 'emergency orders=1000 venues=3 latency=50ms', unit: 'ms', value: 1200, target: { op: '<=', value: 1000, of: 'value' } },
      ]),
    ]
    const targets = settleComparisons(runs)
    const [, fast, slow, emergency] = runs[0]!.results
    expect(fast!.ratio).toBeCloseTo(0.8)
    expect(fast!.targetMet).toBe(true)
    expect(slow!.targetMet).toBe(false)
    expect(emergency!.targetMet).toBe(false)
    expect(targets).toEqual({ met: 1, missed: 2, unjudged: 0, missedNames: ['slow', 'emergency orders=1000 venues=3 latency=50ms'] })
  })

  it('leaves a target unjudged, and says why, when its baseline was skipped or not measured', () => {
    const runs = [
      run([
        { name: 'peer', unit: 'events/s', value: Number.NaN, skipped: 'could not be installed' },
        { name: 'ours', unit: 'events/s', value: 900, baseline: 'peer', target: { op: '>=', value: 1, of: 'ratio' } },
        { name: 'other', unit: 'events/s', value: 900, baseline: 'absent', target: { op: '>=', value: 1, of: 'ratio' } },
      ]),
    ]
    expect(settleComparisons(runs)).toMatchObject({ met: 0, missed: 0, unjudged: 2 })
    const [, ours, other] = runs[0]!.results
    expect(ours!.ratio).toBeUndefined()
    expect(ours!.note).toContain("baseline 'peer' skipped")
    expect(other!.note).toContain("baseline 'absent' was not measured")
    expect(targetMet({ value: 1, ratio: undefined, skipped: undefined })).toBeUndefined()
    expect(Number.isNaN(ratio(1, 0))).toBe(true)
  })

  it('drops raw timings from the report but keeps their percentiles and count', () => {
    const [r] = reportResults('s', [{ name: 'x', unit: 'ops/s', value: 1, latenciesNs: [3, 1, 2] }])
    expect(r).not.toHaveProperty('latenciesNs')
    expect(r!.percentiles).toEqual({ p50: 2, p99: 3, p999: 3 })
    expect(r!.latencyCount).toBe(3)
  })
})

describe('emergency results', () => {
  it('are named by a convention the report can parse back', () => {
    expect(emergencyName(1000, 3, 50)).toBe('emergency orders=1000 venues=3 latency=50ms')
    expect(parseEmergencyName('emergency orders=10000 venues=1 latency=0ms masscancel=yes')).toEqual({
      orders: 10000,
      venues: 1,
      latencyMs: 0,
      series: 'venues=1 latency=0ms masscancel=yes',
    })
    expect(parseEmergencyName('emergency venues=1')).toBeUndefined()
    expect(parseEmergencyName('append per-event')).toBeUndefined()
  })

  it('are charted as duration vs order count on the HTML page, names escaped', () => {
    const results = [
      ...[100, 1000, 10000].map((orders) => ({ name: emergencyName(orders, 3, 50), unit: 'ms' as const, value: orders / 10 })),
      { name: `${emergencyName(1000, 3, 50)} one venue hung`, unit: 'ms' as const, value: 900 },
    ]
    const runs = [{ name: 'shutdown <x>', description: 'd', file: 'shutdown', durationMs: 1, peakRssBytes: 1, results: reportResults('shutdown', results) }]
    const report: Report = {
      format: 'haltd-bench/1',
      startedAt: 'a',
      finishedAt: 'b',
      quick: true,
      argv: [],
      environment: {
        node: 'v20',
        platform: 'linux',
        arch: 'x64',
        cpuModel: 'cpu',
        cpuCount: 2,
        totalMemoryBytes: 1,
        sqlite: '3',
        gitCommit: 'c',
        gitDirty: false,
        tmpDir: '/tmp',
      },
      scenarios: runs,
      targets: settleComparisons(runs),
    }
    const html = renderHtml(report)
    expect(html).toContain('Emergency duration vs open orders')
    expect(html).toContain('venues=3 latency=50ms')
    expect(html).toContain('venues=3 latency=50ms one venue hung')
    expect(html.match(/<circle /g)).toHaveLength(4)
    expect(html.match(/<path d=/g)).toHaveLength(2) // the hung-venue run is a series of its own
    expect(html).toContain('shutdown &lt;x&gt;')
    expect(html).not.toContain('shutdown <x>')
  })
})
