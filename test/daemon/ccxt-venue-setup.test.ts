import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createHaltd } from '../../src/daemon/index.js'
import { createLogger } from '../../src/daemon/logger.js'
import { memoryDestination } from '../support/memory-log.js'
import { tempDir } from '../support/tmp.js'

const quiet = () => createLogger({ destination: memoryDestination(), level: 'warn' })

describe('a ccxt venue in the config', () => {
  it('a spot venue without symbols refuses to start, saying what it needs', async () => {
    await expect(
      createHaltd(
        { db: { path: join(tempDir(), 'h.db') }, admin: { enabled: false }, venues: [{ kind: 'ccxt', name: 'bn-spot', exchange: 'binance' }] },
        { logger: quiet(), env: {} },
      ),
    ).rejects.toThrow(/venue 'bn-spot': a binance spot venue needs `symbols` \(the markets haltd lists open orders on, cancels in and polls prices of/)
  })
})
