import { spawnSync } from 'node:child_process'
import { userInfo } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { operatorName } from '../../src/cli/operator.js'
import { dist, repoRoot } from '../support/paths.js'
import { startNats } from '../support/nats-server.js'

const closing: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c().catch(() => undefined)
})

/** The environment a systemd unit or `sudo -i` can leave: no USER, no LOGNAME. */
function withoutLoginNames(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.USER
  delete env.LOGNAME
  return env
}

describe('who signs an operator command', () => {
  it('is the login name the shell gives, else the account the process runs as', () => {
    const saved = { USER: process.env.USER, LOGNAME: process.env.LOGNAME }
    try {
      process.env.USER = 'vera'
      expect(operatorName()).toBe('vera')
      // given no USER but a LOGNAME
      delete process.env.USER
      process.env.LOGNAME = 'olaf'
      expect(operatorName()).toBe('olaf')
      // given neither: the account the process runs as
      delete process.env.LOGNAME
      expect(operatorName()).toBe(userInfo().username)
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
  })

  it('a fleet kill switch latched from a shell without $USER is signed by the account it runs as, not "unknown"', { timeout: 60_000 }, async () => {
    const nats = await startNats()
    closing.push(() => nats.close())
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [dist('src/cli.js'), 'fleet', ...args, '--nats', nats.url], {
        cwd: repoRoot,
        env: withoutLoginNames(),
        encoding: 'utf8',
        timeout: 40_000,
      })

    // when the switch is activated with no --by
    const activated = cli(['killswitch', 'activate', '--reason', 'bad deploy', '--all'])
    expect(activated.stderr).toBe('')
    expect(activated.status).toBe(0)

    // then it and its history name the process's account
    const signer = userInfo().username
    expect(activated.stdout).toContain(`by ${signer}`)
    const history = cli(['killswitch', 'history', '--json'])
    expect(history.status).toBe(0)
    expect((JSON.parse(history.stdout) as { by: string }[]).map((h) => h.by)).toEqual([signer])

    // and an empty --by is refused, naming the flag (bad input to an operator command exits 1)
    const empty = cli(['killswitch', 'reset', '--reason', 'fixed', '--by', ' '])
    expect(empty.status).toBe(1)
    expect(empty.stderr).toMatch(/--by needs a name/)
  })

  it('refuses a --reason or --by that is not one printable line, naming the flag, and writes nothing to the fleet', { timeout: 60_000 }, async () => {
    const nats = await startNats()
    closing.push(() => nats.close())
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [dist('src/cli.js'), 'fleet', ...args, '--nats', nats.url], { cwd: repoRoot, encoding: 'utf8', timeout: 40_000 })

    // when each command is given text with a line break, a terminal escape, a tab or a bidirectional override
    const refused = [
      cli(['killswitch', 'activate', '--reason', 'bad deploy\nfleet kill switch: not set', '--all']),
      cli(['killswitch', 'activate', '--reason', 'bad deploy', '--by', 'anna\u001b[2K', '--all']),
      cli(['killswitch', 'reset', '--reason', 'rolled\tback']),
      cli(['stop', '--reason', 'end of day\u202e', '--timeout', '1']),
    ]

    // then each exits 1 naming the flag, and the fleet holds nothing from them
    expect(refused.map((r) => r.status)).toEqual([1, 1, 1, 1])
    expect(refused.map((r) => /(--reason|--by) must be one line of printable text/.exec(r.stderr)?.[1])).toEqual(['--reason', '--by', '--reason', '--reason'])
    const history = cli(['killswitch', 'history', '--json'])
    expect(history.status).toBe(0)
    expect(JSON.parse(history.stdout)).toEqual([])
  })
})
