import fs, { openSync, readFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createLogger, Secrets } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { dist } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'

const TOKEN = 'tok_6bX0c9kQm2TzR8wLp4HsY1'

function logged(write: (log: ReturnType<typeof createLogger>) => void): string[] {
  const dest = memoryDestination()
  const secrets = new Secrets()
  secrets.add(TOKEN)
  const log = createLogger({ destination: dest, secrets, level: 'debug' })
  write(log)
  return dest.lines
}

describe('logger', () => {
  it('writes JSON lines when given a stream', () => {
    const lines = logged((log) => log.info({ venue: 'okx-sim' }, 'connected'))
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, name: 'haltd', venue: 'okx-sim', msg: 'connected' })
  })

  it('never writes the admin token, wherever it is handed to a log call', () => {
    const lines = logged((log) => {
      log.info({ token: TOKEN }, 'by key')
      log.info({ admin: { token: TOKEN } }, 'nested key')
      log.info({ req: { headers: { authorization: `Bearer ${TOKEN}` } } }, 'request headers')
      log.info({ headers: { Authorization: `Bearer ${TOKEN}` } }, 'capitalised header')
      log.info({ config: { admin: { token: TOKEN }, venues: [{ secret: TOKEN, apiKey: TOKEN }] } }, 'config')
      log.info(`in the message: ${TOKEN}`)
      log.info('interpolated %s', TOKEN)
      log.warn({ url: `http://127.0.0.1:1/x?token=${TOKEN}` }, 'under an unlisted key')
      log.error(new Error(`failed with ${TOKEN}`))
      log.error({ err: new Error(`nested error ${TOKEN}`) }, 'err key')
      log.child({ token: TOKEN }).info('child bindings')
    })
    expect(lines).toHaveLength(11)
    for (const line of lines) {
      expect(line).not.toContain(TOKEN)
      expect(line).toMatch(/redacted/)
    }
  })

  it('censors secret keys even when the value was never registered', () => {
    const dest = memoryDestination()
    createLogger({ destination: dest }).info({ apiKey: 'unregistered-key-123', password: 'hunter2-hunter2' }, 'keys')
    expect(dest.lines[0]).not.toContain('unregistered-key-123')
    expect(dest.lines[0]).not.toContain('hunter2-hunter2')
  })
})

describe('a process log that cannot be written', () => {
  it('given a destination that refuses lines, the log calls never throw, and once it takes lines again the first says how many were lost', () => {
    const written: string[] = []
    let refusing = true
    const destination = {
      write(line: string) {
        if (refusing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
        written.push(line)
      },
    }
    const log = createLogger({ destination })
    expect(() => {
      log.info('one')
      log.warn('two')
    }).not.toThrow()
    refusing = false
    log.info('three')
    expect(written.map((l) => JSON.parse(l) as { msg: string; linesLost?: number })).toEqual([
      expect.objectContaining({ linesLost: 2, msg: '2 line(s) of this log could not be written and are lost' }),
      expect.objectContaining({ msg: 'three' }),
    ])
  })

  afterEach(() => vi.restoreAllMocks())

  it('given the default destination on a file whose disk fills and frees, each line is written once or counted lost once, and the count is what was lost', () => {
    // given a logger on a file, through the descriptor writes it makes itself
    const path = join(tempDir(), 'process.log')
    const fd = openSync(path, 'a')
    const log = createLogger({ fd, level: 'info' })
    log.info('before')
    // when the disk is full for four lines (the fault is the system call's, as ENOSPC comes from it)
    const real = fs.writeSync
    let full = true
    vi.spyOn(fs, 'writeSync').mockImplementation(((...a: Parameters<typeof real>) => {
      if (full && a[0] === fd) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      return real(...a)
    }) as typeof real)
    for (let i = 0; i < 4; i++) log.info(`during ${i}`)
    // and then has room again
    full = false
    log.info('after')
    // then the file holds the lines written, one line saying the four lost, and none of the four
    const lines = readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; linesLost?: number })
    expect(lines.map((l) => l.msg)).toEqual(['before', '4 line(s) of this log could not be written and are lost', 'after'])
    expect(lines[1]?.linesLost).toBe(4)
  })

  it('given stdout a pipe whose reader pauses, every line arrives once the reader reads again, none counted lost', async () => {
    // given a process logging 500 lines of a kilobyte into a pipe, past what the pipe holds
    const child = spawn(process.execPath, [dist('test/daemon/logger-pipe-child.js'), '500'], { stdio: ['ignore', 'pipe', 'ignore'] })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    // when its reader reads nothing for a while
    child.stdout.pause()
    await new Promise((r) => setTimeout(r, 100))
    const chunks: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => chunks.push(c))
    const ended = new Promise((resolve) => child.stdout.on('end', resolve))
    child.stdout.resume()
    await ended
    const code = await exited
    const text = Buffer.concat(chunks).toString('utf8')
    // then every line is there, whole, and none is said lost
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; i?: number })
    expect(code).toBe(0)
    expect(lines.filter((l) => l.msg === 'line').map((l) => l.i)).toEqual(Array.from({ length: 500 }, (_, i) => i))
    expect(lines.filter((l) => l.msg !== 'line')).toEqual([])
  })
})
