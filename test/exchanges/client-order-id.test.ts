import { describe, expect, it } from 'vitest'
import { clientIdProblem, clientIdRuleFor, idRunTag, isOwnOrderId, makeClientOrderId } from '../../src/exchanges/client-order-id.js'
import ccxt from 'ccxt'
import { toVenueOrder, withoutVenuePrefix } from '../../src/exchanges/ccxt/mapping.js'

const FAMILIES = ['okx', 'okxus', 'binance', 'binanceusdm', 'binancecoinm', 'bybit', 'kraken', 'krakenfutures', 'coinbase', 'deribit']

describe('client order ids haltd generates', () => {
  it('are hd + a six-letter run tag + a base36 counter, letters and digits only', () => {
    expect(makeClientOrderId('20261204-abe607', 1)).toBe('hdabe6071')
    expect(makeClientOrderId('abe607', 36 ** 3)).toBe('hdabe6071000')
  })

  it('fit every venue family’s rule, up to a ten-digit counter (36^10 orders in a run)', () => {
    for (const seq of [1, 35, 36 ** 6, 36 ** 10 - 1]) {
      const id = makeClientOrderId('c0ffee', seq)
      for (const family of FAMILIES) expect(clientIdProblem(clientIdRuleFor(family), id), `${family} ${id}`).toBeUndefined()
    }
  })

  it('take any run tag: lowercased, stripped to letters and digits, its last six kept or padded', () => {
    expect(idRunTag('R1')).toBe('0000r1')
    expect(idRunTag('AB-CD_EF-12')).toBe('cdef12')
    expect(idRunTag('')).toBe('000000')
    expect(makeClientOrderId('t', 2)).toBe('hd00000t2')
  })

  it('refuse a counter that is not a positive whole number', () => {
    expect(() => makeClientOrderId('abe607', 0)).toThrow(/positive whole number, got 0/)
    expect(() => makeClientOrderId('abe607', 1.5)).toThrow(/got 1.5/)
  })
})

describe('recognising haltd’s own ids', () => {
  it('recognises the ids it generates, without a separator', () => {
    expect(isOwnOrderId(makeClientOrderId('abe607', 1))).toBe(true)
    expect(isOwnOrderId(makeClientOrderId('abe607', 99_999))).toBe(true)
  })

  it('still recognises the hd-<run>-<n> ids older versions wrote to the log', () => {
    expect(isOwnOrderId('hd-abe607-1')).toBe(true)
    expect(isOwnOrderId('hd-oldrun-1')).toBe(true)
  })

  it('does not claim ids that merely start with the same letters', () => {
    for (const foreign of [undefined, '', 'hd', 'hd12', 'hdABCDEF1', 'hdabc_def1', 'web_1_2', 'x-hd-1', 'HDabe6071'])
      expect(isOwnOrderId(foreign), String(foreign)).toBe(false)
  })

  it('follows another tag when the gateway is given one', () => {
    expect(isOwnOrderId('desk0abe6071', 'desk')).toBe(true)
    expect(isOwnOrderId('desk-7', 'desk')).toBe(true)
    expect(isOwnOrderId('hdabe6071', 'desk')).toBe(false)
  })
})

describe('each venue family’s rule', () => {
  it('OKX clOrdId: 1–32 letters and digits, so the hd-…-n ids of older versions are refused', () => {
    const okx = clientIdRuleFor('okx')
    expect(okx.field).toBe('clOrdId')
    expect(clientIdProblem(okx, 'hd-abe607-1')).toBe("client order id 'hd-abe607-1' does not fit okx clOrdId: 1–32 of letters and digits")
    expect(clientIdProblem(okx, 'a'.repeat(32))).toBeUndefined()
    expect(clientIdProblem(okx, 'a'.repeat(33))).toMatch(/does not fit okx clOrdId/)
  })

  it('Binance newClientOrderId: up to 36 of letters, digits and . : / _ -', () => {
    for (const id of ['binance', 'binanceusdm', 'binancecoinm']) {
      const rule = clientIdRuleFor(id)
      expect(rule.family).toBe('binance')
      expect(clientIdProblem(rule, 'hd-abe607-1')).toBeUndefined()
      expect(clientIdProblem(rule, 'a.b:c/d_e-f')).toBeUndefined()
      expect(clientIdProblem(rule, 'x'.repeat(36))).toBeUndefined()
      expect(clientIdProblem(rule, 'x'.repeat(37))).toMatch(/does not fit binance newClientOrderId: 1–36/)
      expect(clientIdProblem(rule, 'hd abe')).toMatch(/does not fit binance/)
    }
  })

  it('Bybit orderLinkId: up to 36 of letters, digits, - and _', () => {
    const bybit = clientIdRuleFor('bybit')
    expect(bybit.field).toBe('orderLinkId')
    expect(clientIdProblem(bybit, 'hd-abe607-1')).toBeUndefined()
    expect(clientIdProblem(bybit, 'hd_abe607_1')).toBeUndefined()
    expect(clientIdProblem(bybit, 'hd.abe607')).toMatch(/does not fit bybit orderLinkId: 1–36 of letters, digits, - and _/)
    expect(clientIdProblem(bybit, 'x'.repeat(37))).toMatch(/does not fit bybit/)
  })

  it('Kraken cl_ord_id as free text: up to 18', () => {
    const kraken = clientIdRuleFor('kraken')
    expect(kraken.field).toBe('cl_ord_id')
    expect(clientIdProblem(kraken, 'x'.repeat(18))).toBeUndefined()
    expect(clientIdProblem(kraken, 'x'.repeat(19))).toMatch(/does not fit kraken cl_ord_id: 1–18/)
  })

  it('an unknown venue refuses only what no venue takes: empty, too long, spaces or control characters', () => {
    const other = clientIdRuleFor('coinbase')
    expect(other.family).toBe('default')
    expect(clientIdProblem(other, 'hd-abe607-1')).toBeUndefined()
    expect(clientIdProblem(other, '')).toMatch(/an empty client order id/)
    expect(clientIdProblem(other, 'a b')).toMatch(/printable ASCII/)
  })
})

describe('an id as the venue reports it back', () => {
  // Gate's futures `text` must start with `t-`; ccxt adds it on the way out and leaves it on the way back
  const gate = new ccxt.gate()
  const gateOrder = (text: string) =>
    gate.parseOrder({
      id: 15675394,
      contract: 'BTC_USDT',
      size: 3,
      left: 3,
      price: '40000',
      status: 'open',
      text,
      create_time: 1700000000.1,
      finish_as: '',
      tif: 'gtc',
    })

  it('given a Gate order whose text is t- and an id haltd made, then it is haltd’s id again, so its fills and status reach the order', () => {
    const own = makeClientOrderId('r1abcd', 7)
    expect(gateOrder(`t-${own}`).clientOrderId).toBe(`t-${own}`)
    expect(toVenueOrder(gateOrder(`t-${own}`)).clientOrderId).toBe(own)
  })

  it('leaves another program’s t- id as the venue shows it', () => {
    expect(toVenueOrder(gateOrder('t-manual-42')).clientOrderId).toBe('t-manual-42')
    expect(withoutVenuePrefix('t-')).toBe('t-')
  })
})
