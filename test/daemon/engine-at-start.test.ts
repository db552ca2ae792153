import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../support/tmp.js'
import { spawnHaltd, whenUp } from './processes.js'

describe('haltd run beside an engine it controls by its pid', { timeout: 60_000 }, () => {
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
})
