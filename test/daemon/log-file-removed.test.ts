import { copyFileSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openEventLog } from '../../src/core/log/event-log.js'
import { bearer, events, runTrading, spawnHaltd, waitFor, waitForAsync } from './processes.js'

type HealthBody = { ok: boolean; state: string; log: { ok: boolean; error?: string } }

/** A `haltd run` trading on the simulated venues, its log in a folder of its own. */
async function trading() {
  const { dir, db, d, info } = await runTrading(7)
  const health = async () => {
    const r = await fetch(`${info.url}/health`, { headers: bearer(info.token) })
    return { status: r.status, body: (await r.json()) as HealthBody }
  }
  return { dir, db, d, health }
}

const savedCopies = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('haltd.db.saved-'))

describe('the log file removed or replaced under a running haltd', { timeout: 120_000 }, () => {
  it('given the file removed, haltd goes HALTED with /health 503 naming it, saves what the writer held beside the path, and SIGTERM stops it non-zero', async () => {
    const { dir, db, d, health } = await trading()
    const seqBefore = events(db).length

    rmSync(db)

    const h = await waitForAsync(async () => {
      const r = await health()
      return r.status === 503 && r.body.state === 'halted' ? r.body : undefined
    })
    expect(h.state).toBe('halted')
    expect(h.log.ok).toBe(false)
    expect(h.log.error).toContain(`${db} was removed while haltd was writing it`)
    const said = await waitFor('the copy saved', () => d.stderr.find((l) => l.includes('is saved in')), d)
    expect(said).toMatch(
      new RegExp(`^haltd: ${db} was removed while haltd was writing it; what it held, to seq (\\d+), is saved in ${dir}/haltd\\.db\\.saved-`),
    )
    const saved = savedCopies(dir)
    expect(saved).toHaveLength(1)
    const log = openEventLog({ path: join(dir, saved[0]!), readonly: true })
    const verified = log.verify()
    log.close()
    expect(verified.ok).toBe(true)
    expect(verified.ok && verified.lastSeq).toBeGreaterThanOrEqual(seqBefore)
    expect(verified.ok && verified.lastSeq).toBe(Number(/to seq (\d+)/.exec(said)![1]))

    d.child.kill('SIGTERM')
    const { code } = await d.exit
    expect(code).toBe(1)
    expect(d.stderr.join('\n')).toMatch(/haltd: the event log could not record \d+ event\(s\).*was removed while haltd was writing it/)
  })

  it('given another file moved over its path, haltd goes HALTED naming the replacement and leaves the new file alone', async () => {
    const { dir, db, d, health } = await trading()
    const other = join(dir, 'other.db')
    copyFileSync(db, other)
    const placed = readFileSync(other)
    renameSync(other, db)

    const h = await waitForAsync(async () => {
      const r = await health()
      return r.status === 503 && r.body.state === 'halted' ? r.body : undefined
    })
    expect(h.state).toBe('halted')
    expect(h.log.error).toContain(`${db} was replaced by another file while haltd was writing it`)
    await waitForAsync(async () => (savedCopies(dir).length === 1 ? true : undefined))

    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(1)
    expect(readFileSync(db).equals(placed)).toBe(true)
  })

  it.each([
    ['-wal', "the log's WAL"],
    ['-shm', "the log's WAL index"],
  ])('given its %s file removed, haltd goes HALTED with /health 503 naming it, and saves what the writer held', async (suffix, what) => {
    const { dir, db, d, health } = await trading()

    rmSync(`${db}${suffix}`)

    const h = await waitForAsync(async () => {
      const r = await health()
      return r.status === 503 && r.body.state === 'halted' ? r.body : undefined
    })
    expect(h.log.ok).toBe(false)
    expect(h.log.error).toContain(`${db}${suffix}, ${what}, was removed while haltd was writing the log`)
    const said = await waitFor('the copy saved', () => d.stderr.find((l) => l.includes('is saved in')), d)
    const saved = savedCopies(dir)
    expect(saved).toHaveLength(1)
    const log = openEventLog({ path: join(dir, saved[0]!), readonly: true })
    const verified = log.verify()
    log.close()
    expect(verified.ok && verified.lastSeq).toBe(Number(/to seq (\d+)/.exec(said)![1]))

    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(1)
  })
})

describe('the writer lock file removed under a running haltd', { timeout: 120_000 }, () => {
  it('given its lock file removed, a second haltd on the same log is refused naming the first, which takes its lock back and trades on', async () => {
    const { dir, db, d, health } = await trading()
    const second = join(dir, 'second.json')
    writeFileSync(second, readFileSync(join(dir, 'haltd.json')))

    rmSync(`${db}.lock`)
    const other = spawnHaltd(['run', '--config', second], { db })
    // refused, it ends at once (within its settle wait); still running, it is a second writer
    const ended = await Promise.race([other.exit, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 20_000))])

    expect(ended).not.toBe('still running')
    expect(ended !== 'still running' && ended.code).not.toBe(0)
    expect(other.stderr.join('\n')).toContain(`${db} is already open for writing by pid ${d.child.pid} `)
    const retaken = await waitFor('the lock taken back', () => d.stderr.find((l) => l.includes('it is locked again')), d)
    expect(retaken).toMatch(new RegExp(`^haltd: the writer lock ${db}\\.lock was (removed|replaced by another file) while this process held it`))
    const seqThen = events(db).length
    await waitFor('trading going on', () => events(db).length > seqThen, d)
    const h = await health()
    expect(h.status).toBe(200)
    expect(h.body.state).toBe('running')

    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(0)
    const log = openEventLog({ path: db, readonly: true })
    const verified = log.verify()
    log.close()
    expect(verified.ok).toBe(true)
  })
})
