import { afterEach, describe, expect, it, vi } from 'vitest'
import { main } from '../../src/cli/main.js'
import { HALTD_VERSION } from '../../src/daemon/index.js'

/** Runs the CLI in this process and keeps what it wrote. */
async function haltd(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk)
    return true
  })
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk)
    return true
  })
  try {
    const code = await main(argv)
    return { code, stdout, stderr }
  } finally {
    vi.restoreAllMocks()
  }
}

afterEach(() => vi.restoreAllMocks())

const COMMANDS = [
  'demo',
  'run',
  'standby',
  'handover',
  'status',
  'stop',
  'killswitch',
  'fleet',
  'audit',
  'replay',
  'export',
  'verify',
  'backup',
  'restore',
  'checkpoint',
  'token',
]

describe('haltd --help and bad input', () => {
  it('lists every command, daemon first, with the exit codes', async () => {
    const { code, stdout } = await haltd('--help')
    expect(code).toBe(0)
    const listed = [...stdout.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1])
    expect(listed).toEqual(COMMANDS)
    expect(stdout).toContain('3 emergency')
  })

  it('answers --help on each command with its usage, exit 0', async () => {
    for (const name of COMMANDS) {
      const { code, stdout } = await haltd(name, '--help')
      expect(code, name).toBe(0)
      expect(stdout, name).toMatch(new RegExp(`^haltd ${name}( |$)`, 'm'))
    }
  })

  it('prints its version', async () => {
    expect(await haltd('--version')).toMatchObject({ code: 0, stdout: `haltd ${HALTD_VERSION}\n` })
  })

  it('with no command, prints the help on stderr and exits 1', async () => {
    const { code, stdout, stderr } = await haltd()
    expect([code, stdout]).toEqual([1, ''])
    expect(stderr).toContain('usage: haltd <command>')
  })

  it('names an unknown option, a missing value, a bad number and a stray argument', async () => {
    expect(await haltd('demo', '--bogus')).toMatchObject({ code: 1, stderr: 'haltd demo: unknown option --bogus\n' })
    expect(await haltd('demo', '--port')).toMatchObject({ code: 1, stderr: 'haltd demo: --port needs a value\n' })
    expect(await haltd('demo', '--seed', 'x')).toMatchObject({ code: 1, stderr: "haltd demo: --seed must be a plain decimal number, got 'x'\n" })
    // numbers JavaScript would read, a person would not write: refused, not taken as 16, 1000, 5 or 0
    for (const odd of ['0x10', '1e3', ' 5 ', '', 'Infinity'])
      expect(await haltd('demo', '--orders', odd)).toMatchObject({ code: 1, stderr: `haltd demo: --orders must be a plain decimal number, got '${odd}'\n` })
    expect(await haltd('demo', '--seed', '9007199254740993')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--seed is past what haltd counts exactly'),
    })
    expect(await haltd('export', '--db', 'x.db', '--format', 'csv', '--types', '')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--types names no event type'),
    })
    expect(await haltd('demo', '--seed', '1', '--seed', '2')).toMatchObject({
      code: 1,
      stderr: 'haltd demo: --seed is given twice: which one is meant is not for haltd to guess\n',
    })
    expect(await haltd('demo', '--status-every', '-1')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--status-every must be 0 (off) or more seconds'),
    })
    expect(await haltd('stop', '[--emergency]')).toMatchObject({ code: 1, stderr: expect.stringContaining("unexpected argument '[--emergency]'") })
    expect(await haltd('run')).toMatchObject({ code: 1, stderr: expect.stringContaining('--config FILE is required') })
  })

  it('exits 2, not the 1 of a finding, when a check is given input it cannot use', async () => {
    expect((await haltd('audit', '--bogus')).code).toBe(2)
    expect((await haltd('checkpoint', 'verify')).code).toBe(2)
    // replay's 1 says the state it shows is incomplete
    expect((await haltd('replay', '--bogus')).code).toBe(2)
  })
})
