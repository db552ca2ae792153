import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { dist } from '../support/paths.js'

function run(mode: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [dist('test/daemon/watchdog-child.js'), mode], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c) => (out += c))
    child.on('exit', (code, signal) => resolve({ code, signal, out }))
  })
}

describe('the watchdog', { timeout: 30_000 }, () => {
  it('ends a live process with the exit code it was armed with', async () => {
    expect(await run('busy-free')).toEqual({ code: 3, signal: null, out: 'armed\nfired: deadline\n' })
  })

  it('kills a process whose main thread is stuck, from a worker thread', async () => {
    const r = await run('blocked')
    expect(r.signal).toBe('SIGKILL')
    expect(r.out).toBe('armed\n')
  })

  it('does nothing once disarmed', async () => {
    expect(await run('disarmed')).toEqual({ code: 0, signal: null, out: 'armed\n' })
  })

  it('never keeps a process alive that has finished its work', async () => {
    expect(await run('idle')).toEqual({ code: 0, signal: null, out: 'armed\n' })
  })
})
