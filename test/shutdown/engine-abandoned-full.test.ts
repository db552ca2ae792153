import { createServer } from 'node:http'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { controlEngine } from '../../src/core/shutdown/engine-control.js'
import { openEventLog } from '../../src/core/log/event-log.js'
import { createEngineControl, EngineConfig } from '../../src/daemon/engine-process.js'
import { systemClock } from '../../src/events/clock.js'
import { tempDir } from '../support/tmp.js'

/**
 * An engine action abandoned when its shutdown is escalated records its end in the abort's own
 * listener. The escalation's code aborts inside a try; a listener's throw never reaches it (an
 * AbortSignal reports it as an uncaught exception), so the listener must not throw.
 */

const closing: (() => void)[] = []
afterEach(() => {
  for (const close of closing.splice(0)) close()
})

describe('an engine action abandoned while the log takes no write', () => {
  it('given a stop over HTTP that never answers and a log whose disk is full, when the shutdown abandons it, then nothing is thrown out of the abort and the command ends abandoned', async () => {
    // given an engine whose stop never answers
    const server = createServer((req, res) => {
      if (req.url === '/stop') return
      res.end('running')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    closing.push(() => server.close())
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    const engine = createEngineControl(
      EngineConfig.parse({ stop: { http: { url: `${url}/stop` } }, gone: { http: { url: `${url}/status`, goneStatus: [410] } } }),
    )
    const log = openEventLog({ path: join(tempDir('haltd-engine-'), 'events.db'), checkpoints: 'inline' })
    closing.push(() => log.close())
    const abandon = new AbortController()
    const uncaught: unknown[] = []
    const onUncaught = (e: unknown) => uncaught.push(e)
    process.prependListener('uncaughtException', onUncaught)
    closing.push(() => process.removeListener('uncaughtException', onUncaught))

    // the stop is asked for (and its start recorded) before controlEngine first waits
    const result = controlEngine('stop', undefined, 10_000, { log, clock: systemClock, engine, shutdownId: 'sd-1', abandoned: abandon.signal })
    // when the disk is full and the shutdown is escalated
    const pages = log.database.pragma('page_count', { simple: true }) as number
    log.database.pragma(`max_page_count = ${pages}`)
    for (let i = 0; i < 50; i++) {
      try {
        log.append({ type: 'engine.action-requested', data: { action: 'check', how: `filling the disk ${i}`.padEnd(150, '.'), shutdownId: 'sd-0' } })
      } catch {
        break
      }
    }
    expect(() => abandon.abort(new Error('the shutdown was escalated to emergency'))).not.toThrow()

    // then the command ends, and no exception escaped to the process
    expect(await result).toMatchObject({ outcome: 'failed', detail: { action: 'stop', error: 'abandoned: the shutdown was escalated to emergency' } })
    // an uncaught exception from a listener is thrown on the next tick, well before this
    await new Promise((r) => setImmediate(r))
    expect(uncaught).toEqual([])
  })
})
