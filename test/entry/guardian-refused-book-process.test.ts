import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_SYMBOLS } from '../support/fake-binance/index.js'
import { engineRests, startFakeBybit, type FakeBybit } from '../support/fake-bybit/index.js'
import { tempDir } from '../support/tmp.js'
import { events, spawnHaltd, waitFor, whenUp, type Daemon } from '../daemon/processes.js'

/**
 * `haltd run` (a real process) in guardian mode on a classic Bybit account, reached over HTTP by
 * the real ccxt.bybit inside haltd: the account answers spot and linear USDT, and refuses every
 * request on USDC contracts with Bybit's 10020. The engine's orders rest on the books it answers,
 * and one rests on a USDC book haltd cannot see. A signal stops haltd: what it can see is
 * cancelled and confirmed, the book it cannot see is named, and nothing claims it empty.
 */

const cleanups: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const NOT_UNIFIED = { retCode: 10020, retMsg: 'your account is not a unified margin account, please update your account' }
const SYMBOLS = [...DEFAULT_SYMBOLS, { id: 'BTCPERP', base: 'BTC', quote: 'USDC', stepSize: 0.001, tickSize: 0.1, minQty: 0.001, mid: 50_000 }]

function configFor(venue: FakeBybit, dir: string) {
  const origin = venue.origin
  return {
    db: { path: join(dir, 'events.db') },
    admin: { port: 0 },
    venues: [
      {
        kind: 'ccxt',
        name: 'bybit',
        exchange: 'bybit',
        apiKey: venue.apiKey,
        secret: venue.secret,
        symbols: ['BTC/USDT:USDT'],
        urls: { api: { public: origin, private: origin, spot: origin, futures: origin, v2: origin } },
        options: {
          enableRateLimit: false,
          options: {
            defaultType: 'swap',
            defaultSubType: 'linear',
            fetchMarkets: { types: ['spot', 'linear'] },
            enableUnifiedAccount: true,
            enableUnifiedMargin: false,
          },
        },
      },
    ],
    guardian: { pollMs: 300 },
    shutdown: { graceful: { flatten: 'none' } },
  }
}

async function guardedClassicAccount(): Promise<{ venue: FakeBybit; d: Daemon; db: string }> {
  const venue = await startFakeBybit({ symbols: SYMBOLS })
  cleanups.push(() => venue.close())
  venue.refuse({ category: 'linear', settleCoin: 'USDC' }, NOT_UNIFIED)
  const rest = (category: 'spot' | 'linear', symbol: string, orderLinkId: string, price: number, qty: number) =>
    engineRests(venue, category, symbol, orderLinkId, price, qty)
  rest('linear', 'BTCUSDT', 'eng-lin-btc', 40_000, 0.001)
  rest('linear', 'ETHUSDT', 'eng-lin-eth', 2_000, 0.01)
  rest('spot', 'BTCUSDT', 'eng-spot-btc', 40_000, 0.001)
  rest('linear', 'BTCPERP', 'eng-usdc-btc', 40_000, 0.001)

  const dir = tempDir('haltd-guardian-refused-')
  const config = configFor(venue, dir)
  const file = join(dir, 'haltd.json')
  writeFileSync(file, JSON.stringify(config))
  const d = spawnHaltd(['run', '--config', file], { db: config.db.path })
  cleanups.push(async () => {
    if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL')
    await d.exit
  })
  await whenUp(d)
  await waitFor('the orders on the books bybit answers adopted', () => adopted(config.db.path).length === 3, d)
  return { venue, d, db: config.db.path }
}

const adopted = (db: string): string[] =>
  events(db, ['order.submitted'])
    .map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    .sort()
const canceled = (db: string): string[] =>
  events(db, ['order.canceled'])
    .map((e) => (e.data as { clientOrderId: string }).clientOrderId)
    .sort()
const message = (d: Daemon, notification: string): string | undefined => d.logs().find((l) => l.notification === notification)?.msg as string | undefined

describe('guardian on a Bybit account that refuses a book (real processes)', { timeout: 90_000 }, () => {
  it('warns at start of the refused book, and SIGTERM cancels and confirms the orders on the answering books, names the refused book in its report, and exits 2', async () => {
    const { venue, d, db } = await guardedClassicAccount()

    const warning = d.logs().find((l) => String(l.msg).startsWith('guardian: bybit is followed account-wide, but not all of it'))
    expect(warning?.msg).toMatch(/the venue refused to list its linear USDC book \(PermissionDenied: .*10020/)
    expect(adopted(db)).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc'])

    d.child.kill('SIGTERM')
    const exit = await d.exit

    // then the answering books are empty at the venue, each cancel confirmed in the log
    expect(canceled(db)).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc'])
    expect(venue.account.open('spot')).toEqual([])
    expect(venue.account.open('linear').map((o) => o.clientOrderId)).toEqual(['eng-usdc-btc'])
    // and the book it could not see is named wherever the shutdown speaks of the account, never claimed empty
    const completed = message(d, 'shutdown.completed')
    expect(completed).toContain(
      'positions flat on the books listed; 0 order(s) still live on the books listed (not seen: bybit: inverse, option, linear USDC (refused))',
    )
    expect(completed).toMatch(/reconciliation UNVERIFIED \(bybit: the venue refused to list linear USDC \(PermissionDenied: .*10020/)
    const observed = events(db, ['venue.open-orders-observed']).at(-1)!.data as { unseen?: { book: string; refused?: boolean }[] }
    expect(observed.unseen).toEqual([
      expect.objectContaining({ book: 'inverse' }),
      expect.objectContaining({ book: 'option' }),
      expect.objectContaining({ book: 'linear USDC', refused: true }),
    ])
    const outcome = events(db, ['shutdown.completed']).at(-1)!.data as { outcome: string; exitCode: number }
    expect(outcome.outcome).toBe('residual-exposure')
    expect(exit.code).toBe(2)
  })

  it('SIGUSR2 cancels and confirms the orders on the answering books, names the refused book in its report, and exits 3', async () => {
    const { venue, d, db } = await guardedClassicAccount()

    d.child.kill('SIGUSR2')
    const exit = await d.exit

    expect(canceled(db)).toEqual(['eng-lin-btc', 'eng-lin-eth', 'eng-spot-btc'])
    expect(venue.account.open('spot')).toEqual([])
    expect(venue.account.open('linear').map((o) => o.clientOrderId)).toEqual(['eng-usdc-btc'])
    expect(message(d, 'shutdown.emergency')).toContain('0 order(s) still live on the books listed (not seen: bybit: inverse, option, linear USDC (refused))')
    expect(exit.code).toBe(3)
  })
})
