import Database from 'better-sqlite3'
import { closeSync, openSync } from 'node:fs'
import { z } from 'zod'
import { HaltdError } from '../../events/errors.js'
import { InvalidSimConfig } from './config.js'

/** One order as the simulated venue keeps it, resting or done (a lookup after a restart still finds it). */
export const SavedOrder = z.strictObject({
  venueOrderId: z.string().min(1),
  clientOrderId: z.string().min(1),
  symbol: z.string().min(1),
  side: z.enum(['buy', 'sell']),
  type: z.enum(['market', 'limit']),
  qty: z.number().finite().positive(),
  filled: z.number().finite().nonnegative(),
  price: z.number().finite().positive().optional(),
  tif: z.enum(['GTC', 'IOC', 'FOK', 'PO']),
  reduceOnly: z.boolean(),
  status: z.enum(['open', 'partially-filled', 'filled', 'canceled', 'rejected', 'expired']),
  locked: z.number().finite(),
})
export type SavedOrder = z.infer<typeof SavedOrder>

/** Everything but the orders: small enough to be written whole with every change. */
export const SavedAccount = z.strictObject({
  mode: z.enum(['derivatives', 'spot']),
  positions: z.array(z.strictObject({ symbol: z.string().min(1), qty: z.number().finite(), entryPrice: z.number().finite() })),
  balances: z.array(z.strictObject({ asset: z.string().min(1), free: z.number().finite(), used: z.number().finite() })),
  mids: z.array(z.strictObject({ symbol: z.string().min(1), mid: z.number().finite().positive() })),
  /** The next order, trade and foreign order numbers: ids never repeat across restarts, even with a fixed idEpoch. */
  counters: z.strictObject({ order: z.number().int().positive(), trade: z.number().int().positive(), foreign: z.number().int().positive() }),
  /** A cancel-all-after that was counting down (when it fires, clock ms), or a cancel-on-disconnect that was armed. */
  deadMansSwitch: z.strictObject({ firesAt: z.number().finite().optional(), onDisconnect: z.boolean().optional() }),
})
export type SavedAccount = z.infer<typeof SavedAccount>

export type SavedSim = { account: SavedAccount; orders: SavedOrder[] }

/** A simulated venue's state file fell behind the venue (a save failed): it answers on from memory, and a restart now would find what the file last held. */
export class SimStateUnsaved extends HaltdError {
  constructor(why: string) {
    super('SIM_STATE_UNSAVED', why)
  }
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS sim_account (venue TEXT PRIMARY KEY, json TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS sim_orders (venue TEXT NOT NULL, client_order_id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (venue, client_order_id));
`

/**
 * What a simulated venue holds, kept in a SQLite file so that the venue outlives the process that
 * runs it, as a real one does: haltd killed and started again finds the orders and positions it
 * left there, and settles its log against them. Each change is saved in one transaction before the
 * venue answers or reports it, so a kill at any moment leaves what the venue last said it held
 * (a save that fails is the venue's `unsaved`, and the next one catches up).
 * Several venues may share one file; each reads and writes its own rows.
 */
export class SimStateFile {
  private readonly db: Database.Database
  private readonly putAccount: Database.Statement
  private readonly putOrder: Database.Statement
  private readonly saveAll: (account: SavedAccount, orders: readonly SavedOrder[]) => void

  private constructor(
    readonly file: string,
    private readonly venue: string,
  ) {
    try {
      // the owner's only, as the log beside it is (SQLite gives its journal the same mode)
      makePrivate(file)
      this.db = new Database(file)
      // A rollback journal, kept: the file shares the disk of the log it stands beside, and adds no
      // WAL or index to it. A killed process loses nothing without a sync (what was written is the
      // system's to keep); a power loss may take the file, a simulator's to lose, never the log's.
      this.db.pragma('journal_mode = PERSIST')
      this.db.pragma('journal_size_limit = 65536')
      this.db.pragma('synchronous = OFF')
      this.db.exec(SCHEMA)
    } catch (e) {
      throw new InvalidSimConfig('stateFile', `${file}: cannot be used as the venue's state file (${messageOf(e)})`)
    }
    this.putAccount = this.db.prepare('INSERT INTO sim_account (venue, json) VALUES (?, ?) ON CONFLICT (venue) DO UPDATE SET json = excluded.json')
    this.putOrder = this.db.prepare(
      'INSERT INTO sim_orders (venue, client_order_id, json) VALUES (?, ?, ?) ON CONFLICT (venue, client_order_id) DO UPDATE SET json = excluded.json',
    )
    this.saveAll = this.db.transaction((account: SavedAccount, orders: readonly SavedOrder[]) => {
      this.putAccount.run(this.venue, JSON.stringify(account))
      for (const o of orders) this.putOrder.run(this.venue, o.clientOrderId, JSON.stringify(o))
    })
  }

  /** Opens (or creates) the file; a file that is not one names itself in the error. */
  static open(file: string, venue: string): SimStateFile {
    return new SimStateFile(file, venue)
  }

  /**
   * What this venue saved last, or undefined when it never saved here. A damaged row is an error
   * naming it. Orders come back in the order they were first saved (an upsert keeps its row), so
   * resting orders keep their time priority across a restart.
   */
  load(): SavedSim | undefined {
    try {
      const row = this.db.prepare('SELECT json FROM sim_account WHERE venue = ?').get(this.venue) as { json: string } | undefined
      if (!row) return undefined
      const account = parse(SavedAccount, row.json, `${this.file}: ${this.venue}'s account`)
      const orders = (
        this.db.prepare('SELECT client_order_id, json FROM sim_orders WHERE venue = ? ORDER BY rowid').all(this.venue) as {
          client_order_id: string
          json: string
        }[]
      ).map((r) => parse(SavedOrder, r.json, `${this.file}: ${this.venue}'s order ${r.client_order_id}`))
      return { account, orders }
    } catch (e) {
      if (e instanceof InvalidSimConfig) throw e
      throw new InvalidSimConfig('stateFile', `${this.file}: cannot be read (${messageOf(e)})`)
    }
  }

  /** The account whole and the orders that changed, in one transaction: all of it is saved, or none. */
  save(account: SavedAccount, orders: readonly SavedOrder[]): void {
    this.saveAll(account, orders)
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

function parse<S extends z.ZodType>(schema: S, json: string, what: string): z.output<S> {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (e) {
    throw new InvalidSimConfig('stateFile', `${what} is not JSON (${messageOf(e)})`)
  }
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  throw new InvalidSimConfig('stateFile', `${what}: ${issue.path.join('.') || 'value'}: ${issue.message}`)
}

/** Creates the file with mode 0600 where it is missing; one that is there is left as it is. */
function makePrivate(file: string): void {
  try {
    closeSync(openSync(file, 'wx', 0o600))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  }
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))
