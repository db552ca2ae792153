import { spawn, type ChildProcess } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { EMERGENCY_DEADLINE_MAX_MS, emergencyWatchdogTimes, WATCHDOG_HARD_LIMIT_MS } from '../../src/daemon/watchdog.js'
import { parseConfig } from '../../src/daemon/config.js'
import { dist } from '../support/paths.js'

// a child whose watchdog failed spins for ever: whatever the test came to, it does not outlive it
const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

/** Runs the child in `mode`; `evalAsModule` starts it from a module string given to `node --input-type=module -e`, as an embedder may. */
function run(mode: string, evalAsModule = false): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve) => {
    const script = dist('test/daemon/watchdog-child.js')
    // with -e the child's argv is [node, ...args]: a placeholder keeps the mode at argv[2]
    const args = evalAsModule ? ['--input-type=module', '-e', `await import(${JSON.stringify(script)})`, '-', mode] : [script, mode]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(child)
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

  it('given a process started with `--input-type=module`, its stuck main thread is still killed', async () => {
    // a worker inherits the process's flags unless told otherwise: with this one its CommonJS body would not run
    const r = await run('blocked', true)
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

describe('the emergency watchdog times', () => {
  it('exit a little after the deadline and kill after that, with the default deadline', () => {
    const deadline = parseConfig({ db: { path: 'x.db' } }).shutdown.emergency.deadlineMs
    const { exitAtMs, killAtMs } = emergencyWatchdogTimes(deadline)
    expect(exitAtMs).toBeGreaterThan(deadline)
    expect(killAtMs).toBeGreaterThan(exitAtMs)
    expect(killAtMs).toBeLessThanOrEqual(WATCHDOG_HARD_LIMIT_MS)
  })

  it('never cut an emergency short and never let the process outlive 30 s, for every deadline the config accepts', () => {
    for (const deadline of [1_000, 25_000, EMERGENCY_DEADLINE_MAX_MS]) {
      expect(parseConfig({ db: { path: 'x.db' }, shutdown: { emergency: { deadlineMs: deadline } } }).shutdown.emergency.deadlineMs).toBe(deadline)
      const { exitAtMs, killAtMs } = emergencyWatchdogTimes(deadline)
      expect(exitAtMs, `deadline ${deadline}`).toBeGreaterThan(deadline)
      expect(killAtMs, `deadline ${deadline}`).toBeGreaterThan(exitAtMs)
      expect(killAtMs, `deadline ${deadline}`).toBeLessThanOrEqual(30_000)
    }
    expect(() => parseConfig({ db: { path: 'x.db' }, shutdown: { emergency: { deadlineMs: EMERGENCY_DEADLINE_MAX_MS + 1 } } })).toThrow(/deadlineMs/)
  })

  it("still end the process by 30 s for an emergency deadline set outside the config (an embedder's own)", () => {
    for (const deadline of [27_000, 30_000, 60_000]) {
      const { exitAtMs, killAtMs } = emergencyWatchdogTimes(deadline)
      expect(killAtMs, `deadline ${deadline}`).toBe(30_000)
      expect(exitAtMs, `deadline ${deadline}`).toBeLessThan(killAtMs)
    }
  })
})
