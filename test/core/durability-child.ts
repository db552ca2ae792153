// A child process for the kill -9 tests: appends single events and batches in a loop and prints
// each acknowledged seq. Every batch carries the correlation id `batch:<pid>:<n>:<size>`, so
// the test can tell a batch that is in the log whole from one that is there only in part.
// Usage: node durability-child.js DB process|power
import { openEventLog } from '../../src/core/log/event-log.js'
import type { EventInput } from '../../src/events/index.js'

const [path, durability = 'process'] = process.argv.slice(2)
if (!path) throw new Error('usage: durability-child DB process|power')
const log = openEventLog({ path, durability: durability === 'power' ? 'power' : 'process' })
const venues = ['binance', 'okx', 'kraken']
let i = 0
let batches = 0

function input(correlationId?: string): EventInput {
  i++
  const event: EventInput =
    i % 3 === 0
      ? { type: 'market.mark', data: { venue: venues[i % 3]!, symbol: 'BTC/USDT', price: 100 + (i % 50) } }
      : {
          type: 'order.submitted',
          data: {
            venue: venues[i % 3]!,
            clientOrderId: `${process.pid}-${i}`,
            symbol: 'BTC/USDT',
            side: i % 2 ? 'buy' : 'sell',
            type: 'limit',
            qty: 1 + (i % 7),
            price: 100 + (i % 11),
            origin: { kind: 'strategy', id: 'child' },
          },
        }
  return correlationId === undefined ? event : { ...event, correlationId }
}

/** Sizes both below and above the log's multi-row INSERT chunk, so both batch paths are killed mid-way. */
function batch(): EventInput[] {
  const size = 2 + ((batches * 37) % 90)
  const id = `batch:${process.pid}:${++batches}:${size}`
  return Array.from({ length: size }, () => input(id))
}

const print = (seqs: number[]) => process.stdout.write(seqs.map((s) => `${s}\n`).join(''))

process.stdout.write(`ready ${log.lastSeq}\n`)
if (durability === 'power') {
  const burst = async (): Promise<void> => {
    for (;;) {
      const singles = Array.from({ length: 1 + (i % 17) }, () => log.appendDurable(input()))
      const grouped = log.appendBatch(batch())
      const done = await Promise.all(singles)
      await log.flush()
      print([...done.map((e) => e.seq), ...grouped.map((e) => e.seq)])
    }
  }
  void burst()
} else {
  const loop = () => {
    for (let k = 0; k < 20; k++) {
      print(k % 4 === 0 ? log.appendBatch(batch()).map((e) => e.seq) : [log.append(input()).seq])
    }
    setImmediate(loop)
  }
  loop()
}
