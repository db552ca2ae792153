import { connect, type Socket } from 'node:net'

/** The order the order-entry bench enters, the `i`th of a run: a resting limit order, buy and sell in turn, far from the mid. */
export const ENTRY_SYMBOL = 'BTC/USDT:USDT'

export function entryOrder(i: number, tag: string) {
  const side = i % 2 === 0 ? ('buy' as const) : ('sell' as const)
  return {
    symbol: ENTRY_SYMBOL,
    type: 'limit' as const,
    side,
    amount: 0.001,
    price: side === 'buy' ? 50 - (i % 100) * 0.01 : 150 + (i % 100) * 0.01,
    clientOrderId: `${tag}${i}`,
  }
}

/**
 * An engine's connection to the order-entry socket, authenticated with `token`: `ask` writes one
 * request line and resolves with the next answer line (one request at a time).
 */
export async function connectEntrySocket(path: string, token: string): Promise<{ socket: Socket; ask: (line: string) => Promise<string> }> {
  const socket = connect(path)
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.setNoDelay(true)
  socket.setEncoding('utf8')
  let buffered = ''
  let waiting: ((line: string) => void) | undefined
  socket.on('data', (chunk: string) => {
    buffered += chunk
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      const w = waiting
      waiting = undefined
      w?.(line)
    }
  })
  const ask = (line: string) =>
    new Promise<string>((resolve) => {
      waiting = resolve
      socket.write(`${line}\n`)
    })
  const auth = await ask(JSON.stringify({ id: 0, op: 'auth', token }))
  if (!auth.includes('"ok":true')) throw new Error(`order-entry socket: auth refused: ${auth}`)
  return { socket, ask }
}
