import { spawnSync } from 'node:child_process'
import { closeSync, openSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { dist } from '../support/paths.js'
import { mountSmallDisk } from '../support/small-disk.js'
import { tempDb } from '../support/tmp.js'
import { tradingDay, writeLog } from './fixtures.js'

const disk = mountSmallDisk('1m')
if ('skipped' in disk) console.warn(`\n!!! SKIPPING the lost-output tests: ${disk.skipped} !!!\n`)
afterAll(() => {
  if (!('skipped' in disk)) disk.unmount()
})

/** The command with its stdout redirected to a file on a full disk, as `haltd … > report.json` there. */
function toFullDisk(args: string[]) {
  if ('skipped' in disk) throw new Error('no disk')
  const out = join(disk.dir, 'report.out')
  const fd = openSync(out, 'w')
  try {
    return spawnSync(process.execPath, [dist('src/cli.js'), ...args], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' })
  } finally {
    closeSync(fd)
    rmSync(out)
  }
}

describe('an offline command whose stdout cannot be written', () => {
  it.skipIf('skipped' in disk)(
    'given stdout on a full disk, verify, replay and audit exit 2 and say the output is not all there, never 0 over an empty report',
    () => {
      if ('skipped' in disk) return
      const db = tempDb()
      const { log } = writeLog(db, tradingDay())
      log.close()
      disk.fill()
      try {
        for (const args of [
          ['verify', '--db', db],
          ['replay', '--db', db, '--json'],
          ['audit', '--db', db, '--format', 'json'],
        ]) {
          const r = toFullDisk(args)
          expect(r.status, args[0]).toBe(2)
          expect(r.stderr).toMatch(
            new RegExp(
              `^haltd ${args[0]}: the output could not be written \\(ENOSPC: no space left on device, write\\): what it printed is not all there$`,
              'm',
            ),
          )
        }
      } finally {
        rmSync(join(disk.dir, 'filler'))
      }
    },
  )
})
