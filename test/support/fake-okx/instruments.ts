import type { Segment, SymbolSpec } from '../fake-binance/engine.js'
import { okxErrors } from './codes.js'

/**
 * OKX's instruments over the matching engine's symbols: each engine symbol (`BTCUSDT`) is a spot
 * pair (`BTC-USDT`, sizes in base) and a linear perpetual (`BTC-USDT-SWAP`, sizes in contracts of
 * `ctVal` base each). The engine keeps spot in its `spot` segment and perpetuals in `futures`,
 * always in base units; this module converts at the edge.
 */
export type InstType = 'SPOT' | 'SWAP'

export type Instrument = {
  instId: string
  instType: InstType
  segment: Segment
  spec: SymbolSpec
  /** Base per contract (1 for spot). */
  ctVal: number
}

const round = (x: number): number => Math.round(x * 1e10) / 1e10
const str = (x: number): string => String(round(x))

/** A contract is ten of the engine's amount steps, so a lot of 0.1 contracts is one step. */
const contractValue = (spec: SymbolSpec): number => round(spec.stepSize * 10)

export class Instruments {
  private readonly byId = new Map<string, Instrument>()

  constructor(specs: Iterable<SymbolSpec>) {
    for (const spec of specs) {
      const spot = `${spec.base}-${spec.quote}`
      this.byId.set(spot, { instId: spot, instType: 'SPOT', segment: 'spot', spec, ctVal: 1 })
      this.byId.set(`${spot}-SWAP`, { instId: `${spot}-SWAP`, instType: 'SWAP', segment: 'futures', spec, ctVal: contractValue(spec) })
    }
  }

  /** The instrument, or OKX's 51001 (50014 when none was named). */
  get(instId: string | undefined): Instrument {
    if (!instId) throw okxErrors.paramEmpty('instId')
    const inst = this.byId.get(instId)
    if (!inst) throw okxErrors.instrumentUnknown()
    return inst
  }

  /** The instrument an engine order or trade belongs to. */
  of(segment: Segment, engineSymbol: string): Instrument {
    for (const inst of this.byId.values()) if (inst.segment === segment && inst.spec.id === engineSymbol) return inst
    throw new Error(`fake-okx: no instrument for ${segment} ${engineSymbol}`)
  }

  list(instType: string): Instrument[] {
    return [...this.byId.values()].filter((i) => i.instType === instType)
  }

  /** Venue size (base for spot, contracts for swaps) to engine base units, and back. */
  toBase(inst: Instrument, sz: number): number {
    return round(sz * inst.ctVal)
  }
  fromBase(inst: Instrument, qty: number): string {
    return str(qty / inst.ctVal)
  }
}

/** One instrument as `GET /api/v5/public/instruments` lists it. */
export function rawInstrument(inst: Instrument): Record<string, string> {
  const { spec } = inst
  const common = {
    instType: inst.instType,
    instId: inst.instId,
    tickSz: str(spec.tickSize),
    state: 'live',
    listTime: '1606468572000',
    contTdSwTime: '',
    maxLmtSz: '10000000',
    maxMktSz: '1000000',
    maxLmtAmt: '20000000',
    maxMktAmt: '1000000',
    ruleType: 'normal',
    alias: '',
    expTime: '',
    optType: '',
    stk: '',
  }
  if (inst.instType === 'SPOT') {
    return {
      ...common,
      baseCcy: spec.base,
      quoteCcy: spec.quote,
      settleCcy: '',
      ctVal: '',
      ctMult: '',
      ctValCcy: '',
      ctType: '',
      lotSz: str(spec.stepSize),
      minSz: str(spec.minQty),
      lever: '10',
      uly: '',
      instFamily: '',
      category: '1',
    }
  }
  return {
    ...common,
    baseCcy: '',
    quoteCcy: '',
    settleCcy: spec.quote,
    ctVal: str(inst.ctVal),
    ctMult: '1',
    ctValCcy: spec.base,
    ctType: 'linear',
    lotSz: str(spec.stepSize / inst.ctVal),
    minSz: str(spec.minQty / inst.ctVal),
    lever: '100',
    uly: `${spec.base}-${spec.quote}`,
    instFamily: `${spec.base}-${spec.quote}`,
    category: '1',
  }
}
