import { createServer, type Socket } from 'node:net'
import { hostname } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { events, waitFor, waitForAsync } from '../daemon/processes.js'
import { startNats } from '../support/nats-server.js'
import { tempDir } from '../support/tmp.js'
import { operatorView } from './support/fleet.js'
import { fleetCli, fleetStatus, spawnFleetEngine } from './support/fleet-processes.js'

const closing: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c().catch(() => undefined)
})

describe('haltd fleet stop over real haltd processes', { timeout: 60_000 }, () => {
  it('asks each trading engine for its emergency; prints each outcome and exit code as it finishes, and exits with the highest', async () => {
    const nats = await startNats()
    closing.push(() => nats.close())
    const dir = tempDir()
    const engines = ['s1', 's2', 's3'].map((n, i) => spawnFleetEngine(dir, n, nats.url, {}, { seed: i + 1 }))
    await waitForAsync(
      async () => ((await fleetStatus(nats.url).catch(() => undefined))?.engines.filter((e) => e.row?.state === 'RUNNING').length === 3 ? true : undefined),
      40_000,
    )
    await waitFor('orders on every engine', () => engines.every((d) => events(d.db, ['order.accepted']).length > 0))

    const text = await fleetCli(nats.url, ['status'])
    expect(text.status).toBe(0)
    expect(text.stdout).toMatch(/^fleet kill switch: /)
    for (const n of ['s1', 's2', 's3']) expect(text.stdout).toMatch(new RegExp(`^${n}\\s+${n}-1\\s+\\S+\\s+leader\\s+RUNNING`, 'm'))

    const lines: string[] = []
    const stop = await fleetCli(nats.url, ['stop', '--emergency', '--reason', 'desk closing', '--timeout', '40'], (l) => lines.push(l), 60_000)
    expect(stop.stderr).toBe('')
    expect(lines[0]).toMatch(/^asked 3 engine\(s\) for their emergency shutdown: s1, s2, s3$/)
    expect(lines.slice(1).sort()).toEqual(
      ['s1', 's2', 's3'].map((n) => expect.stringMatching(new RegExp(`^${n}: exit 3 \\(emergency shutdown\\) after [\\d.]+ s$`))),
    )
    expect(stop.status).toBe(3)
    for (const d of engines) {
      expect((await d.exit).code).toBe(3)
      expect(events(d.db, ['shutdown.requested'])[0]!.data).toMatchObject({
        mode: 'emergency',
        reason: expect.stringMatching(/^fleet stop by ops-test on .+: desk closing$/),
      })
    }
    // the request stays in the bucket's history under each engine's stop key, with who and from where
    const op = await operatorView(nats.url)
    try {
      for (const n of ['s1', 's2', 's3']) {
        const kept: unknown[] = []
        for await (const e of await op.buckets.control.history({ key: `stop.${n}` })) if (e.operation === 'PUT') kept.push(JSON.parse(e.string()))
        expect(kept).toEqual([
          expect.objectContaining({ mode: 'emergency', by: 'ops-test', host: hostname(), reason: 'desk closing', validUntil: expect.any(String) }),
        ])
      }
    } finally {
      await op.nc.close()
    }
    // stopped engines stay in the view with their exit code until their rows expire
    const after = await fleetStatus(nats.url)
    expect(after.engines.filter((e) => e.row?.state === 'STOPPED' && e.row.exit?.code === 3).map((e) => e.engine)).toEqual(['s1', 's2', 's3'])
  })

  it('given a NATS server that takes the connection and never answers (paused), haltd fleet says it cannot reach it and exits 1 within its connect timeout', async () => {
    const nats = await startNats()
    closing.push(() => nats.close())
    nats.pause()
    closing.push(async () => nats.resume())
    const started = Date.now()
    const status = await fleetCli(nats.url, ['status'])
    expect(status).toMatchObject({
      status: 1,
      stdout: '',
      stderr: expect.stringMatching(
        /^haltd fleet: cannot reach the fleet's NATS at nats:\/\/127\.0\.0\.1:\d+: no greeting from the server within 2000 ms \(timeout\)$/m,
      ),
    })
    // the connect timeout is 2 s; a process kept alive by the timed-out socket would wait on the server for ever
    expect(Date.now() - started).toBeLessThan(20_000)
  })

  it('given a server that greets and keeps the connection alive but answers no request, haltd fleet exits 1 naming the server, never waiting on it', async () => {
    // it speaks the protocol's first words (INFO, PONG to each PING) and swallows every request:
    // a JetStream that never answers, as one still starting or stuck
    const sockets = new Set<Socket>()
    const mute = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.write('INFO {"server_id":"mute","version":"2.10.0","proto":1,"headers":true,"max_payload":1048576}\r\n')
      socket.on('data', (chunk) => {
        for (const line of chunk.toString('latin1').split('\r\n')) if (line === 'PING') socket.write('PONG\r\n')
      })
    })
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve))
    closing.push(async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => mute.close(resolve))
    })
    const url = `nats://127.0.0.1:${(mute.address() as { port: number }).port}`
    const started = Date.now()
    const status = await fleetCli(url, ['status'])
    expect(status).toMatchObject({ status: 1, stdout: '', stderr: expect.stringContaining(`haltd fleet: `) })
    expect(status.stderr).toContain(url)
    // JetStream's request timeout (5 s) ends it, or else the command's deadline (15 s)
    expect(Date.now() - started).toBeLessThan(30_000)
  })
})
