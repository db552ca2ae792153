import { readdirSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_CONNECTIONS } from '../../src/admin/server.js'
import { tempDir } from '../support/tmp.js'
import { bearer, spawnDemo, waitFor, whenUp } from '../daemon/processes.js'

const FLOOD = 1_200
const opened: Socket[] = []
afterEach(() => {
  for (const s of opened.splice(0)) s.destroy()
})

const descriptors = (pid: number) => readdirSync(`/proc/${pid}/fd`).length

/** A client that never finishes its headers: it holds its connection for as long as the server lets it. */
function slowClient(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`POST /shutdown HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`)
      resolve()
    })
    s.on('error', () => resolve())
    opened.push(s)
  })
}

describe('a flood of connections to the admin API', { timeout: 90_000 }, () => {
  it('given 1,200 clients that never finish a request, then haltd holds at most its cap of them, logs the drops in one line, and answers again once they go', async () => {
    // given a running daemon
    const d = spawnDemo(join(tempDir(), 'demo.db'))
    const info = await whenUp(d)
    const port = Number(new URL(info.url).port)
    const before = descriptors(d.pid)

    // when clients without a token open connections and hold them
    for (let i = 0; i < FLOOD; i += 100) await Promise.all(Array.from({ length: 100 }, () => slowClient(port)))
    const dropsLogged = () => d.logs().some((l) => String(l.msg).startsWith('admin connection closed at once'))
    await waitFor('the drops logged, or the descriptors past the cap', () => dropsLogged() || descriptors(d.pid) - before > MAX_CONNECTIONS + 8, d)

    // then the daemon's descriptors grew by at most the cap: the log, the checkpoint and the venues keep theirs
    expect(descriptors(d.pid) - before).toBeLessThanOrEqual(MAX_CONNECTIONS + 8)
    // and the drops are one warning, not one per connection
    expect(d.logs().filter((l) => String(l.msg).startsWith('admin connection closed at once')).length).toBe(1)

    // when they go, then the admin API answers an operator again
    for (const s of opened.splice(0)) s.destroy()
    const status = await waitForStatus(info.url, info.token)
    expect(status).toBe(200)
    expect(d.child.exitCode).toBeNull()
  })
})

async function waitForStatus(url: string, token: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${url}/status`, { headers: bearer(token) }).then(
      (res) => res.status,
      () => 0,
    )
    if (r === 200) return r
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return 0
}
