import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createHaltd, createStandby, type Haltd, type Standby } from '../../src/daemon/index.js'
import { freePort } from '../support/nats-server.js'
import { natsForFile } from '../support/nats-for-file.js'
import { tempDir } from '../support/tmp.js'
import { instanceConfig, quietPorts } from './support/instances.js'
import { SYMBOL, simVenue } from './support/sim-venue.js'

/**
 * A standby's follower copy is a log it writes: its file, WAL or index removed or replaced under
 * it leaves a copy that no longer holds what the stream gave it, and the standby stops following
 * rather than go on into a file no one finds, or lead from it.
 */

const nats = natsForFile()
const TOKEN = 'standby-log-file-token-0123456789'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("a standby's follower copy removed or replaced under it", { timeout: 30_000 }, () => {
  it.each([
    ['', ' was removed while haltd was writing it'],
    ['-wal', ", the log's WAL, was removed while haltd was writing the log"],
  ])('given its log%s removed, it stops following, and /health answers 503 naming the file', async (suffix, said) => {
    const dir = tempDir()
    const port = await freePort()
    const config = (instance: string, admin: { enabled: boolean; port?: number }) => ({
      ...instanceConfig(nats.url, `lf${suffix.replace('-', '')}`, instance, { leaseMs: 4_000 }, { db: join(dir, `${instance}.db`) }),
      admin: { ...admin, token: TOKEN },
    })
    const a: Haltd = await createHaltd(config('a', { enabled: false }), quietPorts(simVenue(9)))
    const b: Standby = await createStandby(config('b', { enabled: true, port }), quietPorts(simVenue(9)))
    try {
      await a.orders.submit({ venue: 'sim-a', symbol: SYMBOL, side: 'buy', type: 'limit', qty: 0.01, price: 40_000, origin: { kind: 'manual', id: 'desk' } })
      const until = Date.now() + 5_000
      while (b.log.lastSeq < a.log.committedSeq && Date.now() < until) await sleep(10)
      expect(b.status().follower.state).toBe('following')
      const db = join(dir, 'b.db')

      rmSync(`${db}${suffix}`)

      const deadline = Date.now() + 5_000
      while (b.status().follower.state === 'following' && Date.now() < deadline) await sleep(50)
      const follower = b.status().follower
      expect(follower.state).toBe('broken')
      expect(follower.reason).toContain(`its log cannot be trusted: event log write failed: ${db}${suffix}${said}`)
      const health = await fetch(`${b.admin!.url}/health`, { headers: { authorization: `Bearer ${TOKEN}` } })
      expect(health.status).toBe(503)
      expect(await health.text()).toContain(`${db}${suffix}${said}`)
    } finally {
      await b.close()
      await a.close()
    }
  })
})
