import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createHaltd, createStandby, type Haltd, type Standby } from '../../src/daemon/index.js'
import { freePort } from '../support/nats-server.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { haltdCli } from './support/cli.js'
import { instanceConfig, quietPorts } from './support/instances.js'
import { SYMBOL, simVenue } from './support/sim-venue.js'

/**
 * A standby's admin API, through its real listener: `haltd status` and a scrape reach it before it
 * leads; it reads, and refuses every action naming its role and the leader; it records nothing; and
 * it hands its port to the leading haltd it becomes.
 */

const nats = natsForFile()

const TOKEN = 'standby-admin-token-0123456789'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const ports = () => quietPorts(simVenue(9))
const call = async (url: string, method: 'GET' | 'POST', path: string, body?: unknown) => {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> }
}

describe("a standby's admin API", { timeout: 30_000 }, () => {
  it('given a standby following a trading leader, its listener answers health, status and metrics as a standby, refuses every action naming its role and the leader, records nothing, and serves the leader it becomes on the same port', async () => {
    const dir = tempDir()
    const port = await freePort()
    const config = (instance: string, admin: { enabled: boolean; port?: number }) => ({
      ...instanceConfig(nats.url, 'adm', instance, { leaseMs: 4_000 }, { db: join(dir, `${instance}.db`) }),
      admin: { ...admin, token: TOKEN },
    })
    const a: Haltd = await createHaltd(config('a', { enabled: false }), ports())
    const b: Standby = await createStandby(config('b', { enabled: true, port }), ports())
    let leader: Haltd | undefined
    try {
      for (let i = 0; i < 3; i++)
        await a.orders.submit({
          venue: 'sim-a',
          symbol: SYMBOL,
          side: 'buy',
          type: 'limit',
          qty: 0.01,
          price: 40_000 + i,
          origin: { kind: 'manual', id: 'desk' },
        })
      const until = Date.now() + 5_000
      while (b.log.lastSeq < a.log.committedSeq && Date.now() < until) await sleep(10)
      const url = b.admin!.url
      expect(url).toBe(`http://127.0.0.1:${port}`)

      // given/when: reads
      const health = await call(url, 'GET', '/health')
      expect(health.status).toBe(200)
      expect(health.json()).toMatchObject({ ok: true, state: 'standby', follower: { state: 'following', seq: a.log.committedSeq } })
      const status = await call(url, 'GET', '/status')
      expect(status.status).toBe(200)
      expect(status.json()).toMatchObject({
        role: 'standby',
        instance: 'b',
        engine: 'adm',
        followedSeq: a.log.committedSeq,
        lag: { events: expect.any(Number) },
        leader: { instance: 'a', epoch: 1 },
      })
      const metrics = await call(url, 'GET', '/metrics')
      expect(metrics.status).toBe(200)
      expect(metrics.text).toContain(`haltd_standby_followed_seq{engine="adm",instance="b"} ${a.log.committedSeq}`)
      expect(metrics.text).toMatch(/haltd_standby_lag_events\{engine="adm",instance="b"\} \d+/)
      expect((await call(url, 'GET', '/orders')).json()).toMatchObject({ open: expect.arrayContaining([expect.objectContaining({ venue: 'sim-a' })]) })

      // then: every action is refused, 409, naming the role and the leader; nothing is recorded
      const seq = b.log.lastSeq
      for (const [path, body] of [
        ['/killswitch/activate', { reason: 'test' }],
        ['/shutdown', { mode: 'graceful', reason: 'test' }],
        ['/pause', { reason: 'test' }],
        ['/handover', { to: 'a', reason: 'test' }],
      ] as const) {
        const refused = await call(url, 'POST', path, body)
        expect(refused.status, path).toBe(409)
        expect(refused.json(), path).toMatchObject({
          error: {
            code: 'NOT_LEADING',
            message: expect.stringMatching(
              /^instance 'b' is a standby of engine 'adm' \(role standby; the leader is 'a' \(epoch 1\)\): .* only on the leader$/,
            ),
          },
        })
      }
      // a forbidden request is not recorded either
      expect((await fetch(`${url}/status`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
      expect(b.log.lastSeq).toBe(seq)
      expect([...b.log.readRaw()].map((r) => r.hash)).toEqual([...a.log.readRaw(1, seq)].map((r) => r.hash))

      // `haltd status --db` finds it by the file beside its log
      const cli = await haltdCli(['status', '--db', join(dir, 'b.db')])
      expect(cli.stdout).toMatch(/^role standby {2}instance b {2}engine adm/m)
      expect(cli.stdout).toMatch(/^leader: a \(epoch 1\)$/m)
      expect(cli.status).toBe(0)

      // once it leads, the same port answers as the leader
      expect((await a.handover({ to: 'b', reason: 'admin port test' })).outcome).toBe('handed-over')
      leader = await b.promoted
      expect(leader.admin?.url).toBe(url)
      expect((await call(url, 'GET', '/status')).json()).toMatchObject({ state: 'running' })
    } finally {
      await leader?.close()
      await b.close()
      await a.close()
    }
  })
})
