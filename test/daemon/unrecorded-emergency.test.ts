import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { demoConfig } from '../../src/daemon/demo.js'
import { mountSmallDisk } from '../support/small-disk.js'
import { tempDir } from '../support/tmp.js'
import { bearer, events, spawnHaltd, waitFor, waitForAsync, whenUp } from './processes.js'

const disk = mountSmallDisk('2m')
if ('skipped' in disk) console.warn(`\n!!! SKIPPING the unrecorded-emergency test: ${disk.skipped} !!!\n`)
afterAll(() => {
  if (!('skipped' in disk)) disk.unmount()
})

describe('an emergency the full log cannot record', { timeout: 120_000 }, () => {
  it.skipIf('skipped' in disk)(
    'given a full disk, SIGUSR2 keeps the emergency beside the log; with room again the next start records the kill switch latched and comes up HALTED, trading nothing',
    async () => {
      if ('skipped' in disk) return
      const db = join(disk.dir, 'haltd.db')
      const file = join(tempDir(), 'haltd.json')
      writeFileSync(file, JSON.stringify(demoConfig({ db, port: 0, seed: 9, orders: 0 })))
      const kept = `${db}.unrecorded-emergency`

      const first = spawnHaltd(['run', '--config', file], { db })
      const info = await whenUp(first)
      await waitFor('the strategies trading', () => events(db, ['order.accepted']).length >= 3, first)
      disk.fill()
      await waitForAsync(async () => ((await fetch(`${info.url}/health`, { headers: bearer(info.token) })).status === 503 ? true : undefined))

      first.child.kill('SIGUSR2')
      expect((await first.exit).code).toBe(1)
      expect(first.stderr.join('\n')).toContain(`haltd: the emergency is kept in ${kept}: the next start records it and comes up with the kill switch latched`)
      expect(events(db, ['shutdown.requested'])).toHaveLength(0)
      expect(JSON.parse(readFileSync(kept, 'utf8'))).toMatchObject({ reason: 'SIGUSR2 received', pid: first.pid })

      rmSync(join(disk.dir, 'filler'))
      const second = spawnHaltd(['run', '--config', file], { db })
      await whenUp(second)
      expect(second.logs().some((l) => l.msg === 'coming up HALTED: the kill switch is latched (reset it with a reason: haltd killswitch reset)')).toBe(true)
      const latched = events(db, ['killswitch.activated']).at(-1)
      if (latched === undefined) throw new Error('no killswitch.activated in the log')
      expect(latched.data).toMatchObject({ origin: 'restart', action: 'EMERGENCY', trigger: 'unrecorded-emergency' })
      expect((latched.data as { reason: string }).reason).toMatch(/^an emergency shutdown \(SIGUSR2 received\) at .* could not be recorded/)
      expect(readFileSync(kept, 'utf8').trim()).toBe('')
      // the strategies stay held back: nothing is submitted after the latch
      await new Promise((r) => setTimeout(r, 1_500))
      expect(events(db, ['order.submitted']).filter((e) => e.seq > latched.seq)).toHaveLength(0)

      second.child.kill('SIGTERM')
      await second.exit
    },
  )
})
