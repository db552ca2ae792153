import { spawnSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { dist } from '../support/paths.js'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/daemon/config.js'
import { demoConfig } from '../../src/daemon/demo.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { mountSmallDisk } from '../support/small-disk.js'
import { tempDir } from '../support/tmp.js'
import { bearer, events, spawnHaltd, waitFor, waitForAsync, whenUp } from './processes.js'

type HealthBody = { ok: boolean; log: { ok: boolean; error?: string } }
type StatusBody = { state: string; gate: { halted: boolean; reason?: string }; log?: { ok: false; error: string; failedWrites: number } }

const disks = { process: mountSmallDisk('2m'), power: mountSmallDisk('2m'), demo: mountSmallDisk('400k') }
for (const [durability, disk] of Object.entries(disks)) {
  if ('skipped' in disk) console.warn(`\n!!! SKIPPING the disk-full tests (${durability}): ${disk.skipped} !!!\n`)
}
afterAll(() => {
  for (const disk of Object.values(disks)) if (!('skipped' in disk)) disk.unmount()
})

describe('haltd run on a disk that fills up', { timeout: 120_000 }, () => {
  for (const durability of ['process', 'power'] as const) {
    const disk = disks[durability]
    it.skipIf('skipped' in disk)(
      `with ${durability} durability a full disk halts the gate, keeps the process up with /health 503, and SIGTERM then stops it non-zero saying what was not recorded`,
      async () => {
        if ('skipped' in disk) return
        const db = join(disk.dir, 'haltd.db')
        const config = demoConfig({ db, port: 0, seed: 5, orders: 0 })
        config.db = { ...config.db, durability }
        const file = join(tempDir(), 'haltd.json')
        writeFileSync(file, JSON.stringify(config))
        const gracefulDeadlineMs = parseConfig(config, {}).shutdown.graceful.deadlineMs

        const d = spawnHaltd(['run', '--config', file], { db })
        const info = await whenUp(d)
        await waitFor('the strategies trading', () => events(db, ['order.accepted']).length >= 3, d)
        const seqBefore = events(db).length

        const filledAt = Date.now()
        const fillerBytes = disk.fill()
        const get = async (path: string) => {
          const r = await fetch(`${info.url}${path}`, { headers: bearer(info.token) })
          return { status: r.status, body: (await r.json()) as unknown }
        }
        const health = await waitForAsync(async () => {
          const h = await get('/health')
          return h.status === 503 && (h.body as HealthBody).log.ok === false ? (h.body as HealthBody) : undefined
        })
        const noticedMs = Date.now() - filledAt
        expect(health.ok).toBe(false)
        expect(health.log.error).toMatch(/event log write failed/)

        // The venues go on calling back, ticks keep coming: the process stays up, HALTED.
        await new Promise((r) => setTimeout(r, 2_000))
        expect(d.child.exitCode).toBeNull()
        const status = (await get('/status')).body as StatusBody
        expect(status.state).toBe('halted')
        expect(status.gate.halted).toBe(true)
        expect(status.gate.reason).toMatch(/the event log cannot be written/)
        expect(status.log).toMatchObject({ ok: false })
        const failedWrites = (status.log?.failedWrites ?? 0) as number
        expect(d.logs().some((l) => l.notification === 'log.write-failed')).toBe(true)
        expect(d.logs().some((l) => l.msg === 'haltd crashed')).toBe(false)

        const signaledAt = Date.now()
        d.child.kill('SIGTERM')
        const { code } = await d.exit
        const stopMs = Date.now() - signaledAt
        expect(code).not.toBe(0)
        expect(code).not.toBeNull()
        expect(stopMs).toBeLessThan(gracefulDeadlineMs)
        // one unit, events: the count is what the list names, each type with how many
        const said =
          /haltd: the event log could not record (\d+) event\(s\)(?: in \d+ write\(s\))?(?: and lost the events after seq \d+ \(a group that did not commit\))? since .*not recorded: (.*)$/m.exec(
            d.stderr.join('\n'),
          )
        expect(said).not.toBeNull()
        const listed = said![2]!.split(', ').reduce((n, part) => {
          const more = /^and (\d+) more$/.exec(part)
          if (more) return n + Number(more[1])
          const times = /×(\d+)$/.exec(part)
          return n + (times ? Number(times[1]) : 1)
        }, 0)
        expect(listed).toBe(Number(said![1]))
        // the log fault's notification cannot be recorded in the broken log: its outcome is on stderr
        expect(d.stderr.join('\n')).toMatch(
          /haltd: notification log\.write-failed delivered by log \(1 attempt\); not in the event log \(the event log refused it: /,
        )
        const requestUnrecorded = d.logs().some((l) => typeof l.msg === 'string' && l.msg.includes('shutdown request (SIGTERM received) could not be recorded'))
        expect(requestUnrecorded || d.logs().some((l) => l.msg === 'the shutdown failed')).toBe(true)
        if (requestUnrecorded) {
          // the orders resting at the venues are cancelled all the same, each outcome on stderr since the log cannot take it
          const sweeps = d.stderr.join('\n').match(/cancel-all at \S+ \(own\): \d+ canceled/g) ?? []
          expect(sweeps).toHaveLength(config.venues?.length ?? 0)
        }

        // With room again, the log reads and its chain holds: nothing half-written.
        rmSync(join(disk.dir, 'filler'))
        const log = openEventLog({ path: db, readonly: true })
        const verified = log.verify()
        log.close()
        expect(verified.ok).toBe(true)
        console.info(
          `[${durability}] filler ${fillerBytes} B; events before the fill ${seqBefore}, in the log at the end ${verified.ok ? verified.lastSeq : '?'}; ` +
            `/health 503 after ${noticedMs} ms; failed writes by then+2 s: ${failedWrites}; SIGTERM to exit ${code} in ${stopMs} ms; ` +
            `shutdown request ${requestUnrecorded ? 'not recorded' : 'recorded, its steps failed'}`,
        )
      },
    )
  }
})

describe('haltd demo on a disk that fills up while it places its resting orders', { timeout: 120_000 }, () => {
  const disk = disks.demo
  it.skipIf('skipped' in disk)(
    'stops placing them, says why, and stays up HALTED; haltd stop then stops it, saying the stop goes ahead unrecorded, exit 1',
    async () => {
      if ('skipped' in disk) return
      const db = join(disk.dir, 'demo.db')
      const d = spawnHaltd(['demo', '--db', db, '--port', '0', '--orders', '2000'], { db })
      const placed = await waitFor('the resting orders placed', () => d.logs().find((l) => l.msg === 'resting orders placed'), d)
      expect(placed.stoppedBy).toMatch(/event log write failed/)
      await new Promise((r) => setTimeout(r, 1_000))
      expect(d.child.exitCode).toBeNull()
      const stop = spawnSync(process.execPath, [dist('src/cli.js'), 'stop', '--db', db, '--timeout', '60'], { encoding: 'utf8' })
      expect(stop.stdout).toMatch(
        /^STOPPING_UNRECORDED: the request could not be recorded \(.*\): haltd cancels at every venue without recording it, then stops with exit 1/m,
      )
      expect(stop.stderr).not.toContain('refused')
      expect(stop.status).toBe(1)
      expect((await d.exit).code).toBe(1)
    },
  )
})
