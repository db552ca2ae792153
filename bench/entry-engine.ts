/**
 * An engine beside haltd, in a process of its own, as the order-entry bench runs it: it connects
 * to the order-entry socket, authenticates, and on each request from its parent enters a run of
 * orders one after another, timing each from its write to its answer with its own clock, and
 * sends the timings back. Started with `fork`; speaks to its parent over the IPC channel only.
 */
import { connectEntrySocket, entryOrder } from './entry-client.js'

type Request = { op: 'connect'; path: string; token: string; tag: string } | { op: 'run'; from: number; ops: number }
export type EngineAnswer = { ok: true; times?: number[] } | { ok: false; error: string }

let ask: ((line: string) => Promise<string>) | undefined
let tag = 'x'

async function open(path: string, token: string): Promise<void> {
  const connection = await connectEntrySocket(path, token)
  connection.socket.on('close', () => process.exit(0))
  ask = connection.ask
}

async function run(from: number, ops: number): Promise<number[]> {
  if (!ask) throw new Error('not connected')
  const times = new Array<number>(ops)
  for (let k = 0; k < ops; k++) {
    const i = from + k
    const line = JSON.stringify({ id: i + 1, op: 'submit', body: entryOrder(i, tag) })
    const t0 = process.hrtime.bigint()
    const answer = await ask(line)
    times[k] = Number(process.hrtime.bigint() - t0)
    if (!answer.includes('"accepted"')) throw new Error(`order ${i}: ${answer.slice(0, 200)}`)
  }
  return times
}

process.on('message', (m: Request) => {
  const done = (answer: EngineAnswer) => process.send?.(answer)
  let work: Promise<number[] | undefined>
  if (m.op === 'connect') {
    tag = m.tag
    work = open(m.path, m.token).then(() => undefined)
  } else work = run(m.from, m.ops)
  work.then(
    (times) => done(times ? { ok: true, times } : { ok: true }),
    (e: unknown) => done({ ok: false, error: e instanceof Error ? e.message : String(e) }),
  )
})
process.on('disconnect', () => process.exit(0))
