import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../support/tmp.js'
import { alive } from '../../src/daemon/engine-process.js'
import { spawnHaltd, waitFor, whenUp } from './processes.js'

describe('haltd run beside an engine it controls', { timeout: 60_000 }, () => {
  it('given a pid file that does not exist, haltd says at start that a shutdown cannot act on the engine, and runs', async () => {
    const dir = tempDir('haltd-engine-start-')
    const db = join(dir, 'events.db')
    const pidFile = join(dir, 'freqtrade.pid')
    const file = join(dir, 'haltd.json')
    writeFileSync(
      file,
      JSON.stringify({ db: { path: db }, admin: { port: 0 }, venues: [{ kind: 'sim', name: 'sim' }], engine: { name: 'freqtrade', pidFile } }),
    )
    const d = spawnHaltd(['run', '--config', file], { db })
    await whenUp(d)
    expect(d.logs().filter((l) => l.level === 40 && l.engine === 'freqtrade')).toEqual([
      expect.objectContaining({
        msg: `the engine's process (freqtrade): the pid file ${pidFile} does not exist, and haltd has read no engine's pid from it in this run: a shutdown cannot freeze, stop or kill the engine until haltd can tell which process it is`,
      }),
    ])
    d.child.kill('SIGKILL')
    await d.exit
  })

  it('given a graceful stop command still running when an emergency ends haltd, then the command dies with haltd, not at a time limit haltd is no longer there to keep', async () => {
    const dir = tempDir('haltd-engine-stop-')
    const db = join(dir, 'events.db')
    const stops = join(dir, 'stops')
    const file = join(dir, 'haltd.json')
    // each stop writes its process group's id, then hangs
    const stop = { command: ['sh', '-c', `echo $$ >> ${stops}; exec sleep 60`] }
    writeFileSync(
      file,
      JSON.stringify({
        db: { path: db },
        admin: { port: 0 },
        venues: [{ kind: 'sim', name: 'sim' }],
        engine: { name: 'bot', stop, gone: { command: ['false'] }, graceMs: 100 },
        shutdown: { emergency: { deadlineMs: 3_000 } },
      }),
    )
    const d = spawnHaltd(['run', '--config', file], { db })
    await whenUp(d)
    d.child.kill('SIGTERM')
    await waitFor('the graceful stop under way', () => existsSync(stops), d)
    d.child.kill('SIGUSR2')
    expect((await d.exit).code).toBe(3)
    const groups = readFileSync(stops, 'utf8').trim().split('\n').map(Number)
    expect(groups.length).toBeGreaterThan(1)
    expect(groups.filter((g) => alive(g))).toEqual([])
  })
})
