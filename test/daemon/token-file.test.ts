import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { resolveTarget } from '../../src/cli/admin-target.js'
import { dist, repoRoot } from '../support/paths.js'
import { tempDir } from '../support/tmp.js'
import { spawnDemo, whenUp } from './processes.js'

describe('the admin token from a file', () => {
  it('given --token-file, reads the token from its first line; refuses it with --token, an empty file or one it cannot read, naming the flag', () => {
    const dir = tempDir()
    const file = join(dir, 'olga.token')
    writeFileSync(file, 'olga-operator-token-0123456789abcdef\nsecond line ignored\n', { mode: 0o600 })
    expect(resolveTarget({ url: 'http://127.0.0.1:1', 'token-file': file }, {})).toEqual({
      url: 'http://127.0.0.1:1',
      token: 'olga-operator-token-0123456789abcdef',
    })
    expect(() => resolveTarget({ url: 'http://127.0.0.1:1', token: 'x', 'token-file': file }, {})).toThrow('give --token or --token-file, not both')
    const empty = join(dir, 'empty.token')
    writeFileSync(empty, '\n')
    expect(() => resolveTarget({ url: 'http://127.0.0.1:1', 'token-file': empty }, {})).toThrow(`--token-file ${empty} holds no token on its first line`)
    expect(() => resolveTarget({ url: 'http://127.0.0.1:1', 'token-file': join(dir, 'missing') }, {})).toThrow(/--token-file .*missing cannot be read: ENOENT/)
  })

  it('given a running daemon, haltd status with --token-file answers, and the token is nowhere in its command line', { timeout: 60_000 }, async () => {
    const d = spawnDemo(join(tempDir(), 'demo.db'))
    const info = await whenUp(d)
    const file = join(tempDir(), 'admin.token')
    writeFileSync(file, `${info.token}\n`, { mode: 0o600 })
    const args = [dist('src/cli.js'), 'status', '--url', info.url, '--token-file', file]
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: repoRoot, env: { ...process.env, HALTD_ADMIN_TOKEN: '' } })
    expect(stdout).toMatch(/running/i)
    expect(args.join(' ')).not.toContain(info.token)
    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(0)
  })
})
