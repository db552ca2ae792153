import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { type FeedFrame, type FeedOptions, type PageView, streamDashboard } from '../../src/admin/dashboard/feed.js'
import { type EventLog, openEventLog } from '../../src/core/log/event-log.js'
import { tempDb } from '../support/tmp.js'

/** Blocks this thread for `ms` without working: what a process frozen by SIGSTOP looks like from inside. */
const frozenFor = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
/** Keeps this thread working for `ms`: a view that costs what it takes. */
const busyFor = (ms: number) => {
  const until = performance.now() + ms
  while (performance.now() < until) {}
}

let log: EventLog | undefined
let server: WebSocketServer | undefined
let client: WebSocket | undefined
afterEach(async () => {
  client?.close()
  await new Promise((done) => (server ? server.close(done) : done(undefined)))
  log?.close()
})

/** A feed over a real socket whose view is built by `build` (its call count given); the frames as they arrive. */
async function feedOf(build: (call: number) => void, options: FeedOptions) {
  log = openEventLog({ path: tempDb() })
  const feedLog = log
  server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise((up) => server!.once('listening', up))
  let calls = 0
  server.on('connection', (ws) =>
    streamDashboard(
      ws,
      feedLog,
      () => {
        build(++calls)
        return {} as PageView
      },
      options,
    ),
  )
  const frames: { at: number; frame: FeedFrame }[] = []
  client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`)
  client.on('message', (m) => frames.push({ at: Date.now(), frame: JSON.parse(String(m)) as FeedFrame }))
  const framesBy = async (n: number, withinMs: number) => {
    const until = Date.now() + withinMs
    while (frames.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    return frames
  }
  return { framesBy }
}

describe('the dashboard feed’s pace', () => {
  it('given a daemon frozen through a view’s build, when it runs again, then the next frame comes within a heartbeat, not ten times the freeze later', async () => {
    // given a feed whose first build is frozen for 1.5 s, doing no work
    const { framesBy } = await feedOf((call) => call === 1 && frozenFor(1_500), { intervalMs: 20, heartbeatMs: 200, share: 0.1 })

    // when it runs again, then frames go on at the heartbeat (before: the next one waited 15 s)
    const frames = await framesBy(3, 5_000)
    expect(frames.length).toBeGreaterThanOrEqual(3)
    expect(frames[1]!.at - frames[0]!.at).toBeLessThan(1_000)
    // and the page was told about a heartbeat's wait, not one built on the freeze (15 s)
    const told = frames[0]!.frame.kind === 'view' ? frames[0]!.frame.heartbeatMs : 0
    expect(told).toBeGreaterThanOrEqual(200)
    expect(told).toBeLessThan(1_000)
  })

  it('given a view that costs work to build, then the next frame waits its cost over the share, and the page is told to expect that wait', async () => {
    // given a view that takes 100 ms of work and a feed that may take a quarter of the loop
    const { framesBy } = await feedOf(() => busyFor(100), { intervalMs: 20, heartbeatMs: 200, share: 0.25 })

    // then frames come about 400 ms apart, each telling the page so, so it does not call a slow view stale
    const frames = await framesBy(3, 5_000)
    expect(frames.length).toBeGreaterThanOrEqual(3)
    expect(frames[2]!.at - frames[1]!.at).toBeGreaterThanOrEqual(300)
    const told = frames.map((f) => (f.frame.kind === 'view' ? f.frame.heartbeatMs : 0))
    expect(Math.min(...told)).toBeGreaterThanOrEqual(300)
  })
})
