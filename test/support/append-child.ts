// A child process for the durability tests: appends in a loop and prints each acknowledged seq.
// Usage: node append-child.js DB [process|power]
import { openEventLog } from '../../src/core/log/event-log.js'

const [path, durability = 'process'] = process.argv.slice(2)
if (!path) throw new Error('usage: append-child DB [process|power]')
const log = openEventLog({ path, durability: durability === 'power' ? 'power' : 'process' })
let i = 0
const venues = ['binance', 'okx', 'kraken']

function input() {
  i++
  return i % 3 === 0
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
}

process.stdout.write(`ready ${log.lastSeq}\n`)
if (durability === 'power') {
  const burst = async (): Promise<void> => {
    for (;;) {
      const pending = Array.from({ length: 1 + (i % 17) }, () => log.appendDurable(input()))
      const done = await Promise.all(pending)
      process.stdout.write(done.map((e) => `${e.seq}\n`).join(''))
    }
  }
  void burst()
} else {
  const loop = () => {
    for (let k = 0; k < 50; k++) {
      const e = log.append(input())
      process.stdout.write(`${e.seq}\n`)
    }
    setImmediate(loop)
  }
  loop()
}
