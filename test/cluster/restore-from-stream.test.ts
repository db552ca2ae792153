import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { startPublisher } from '../../src/cluster/replication/publisher.js'
import { natsForFile } from '../support/nats-for-file.js'
import { mark, submitted } from '../support/events.js'
import { dist, repoRoot } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'
import { natsClientForFile } from './support/nats-client.js'

const nats = natsForFile()
const client = natsClientForFile(nats)

const haltd = (...args: string[]) => spawnSync(process.execPath, [dist('src/cli.js'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 20_000 })

describe('haltd restore --from-stream', { timeout: 30_000 }, () => {
  it('given an engine’s stream, it rebuilds the log on a clean node row for row, verifies the chain, and haltd audit reads it; it never writes over a file', async () => {
    const dir = tempDir()
    const leader = openEventLog({ path: join(dir, 'leader.db') })
    for (let i = 0; i < 300; i++) leader.append(i % 3 ? mark(100 + i) : submitted())
    const p = await startPublisher({ nc: client.nc, log: leader, engine: 'restore-1' })
    await p.flush(5_000)
    await p.stop()
    const config = join(dir, 'haltd.json')
    writeFileSync(config, JSON.stringify({ db: { path: join(dir, 'unused.db') }, nats: { servers: [nats.url], engine: 'restore-1' } }))
    const to = join(dir, 'restored.db')

    const restored = haltd('restore', '--from-stream', '--config', config, '--to', to)
    expect(restored.stderr).toBe('')
    expect(restored.status).toBe(0)
    expect(restored.stdout).toContain('300 events of engine restore-1 restored')
    const log = openEventLog({ path: to, readonly: true })
    expect([...log.readReplicable()]).toEqual([...leader.readReplicable()])
    expect(log.verify()).toEqual({ ok: true, lastSeq: 300, count: 300 })
    log.close()
    leader.close()
    expect(haltd('audit', '--db', to).status).toBe(0)

    const again = haltd('restore', '--from-stream', '--config', config, '--to', to)
    expect(again.status).toBe(2)
    expect(again.stderr).toMatch(/exists: a restore writes a new log, never over one/)
  })
})
