import { describe, expect, it, vi } from 'vitest'

/**
 * package.json and the README promise Node 20 and later; node:crypto's one-shot `hash` came only
 * in 20.12. Here node:crypto is the one of a Node 20 before it, without `hash`.
 */
vi.mock('node:crypto', async (importOriginal) => {
  const { hash: _oneShot, ...before20_12 } = await importOriginal<typeof import('node:crypto')>()
  return { ...before20_12, default: before20_12 }
})

const { entryOrderId } = await import('../../src/core/execution/order-entry.js')

describe('haltd’s id for an engine’s order on a Node 20 without one-shot hashing', () => {
  it('is the same id as on any other Node', () => {
    expect(entryOrderId('pybot', 'py-1')).toBe('hd3nzctyj6oh1l8usb')
    expect(entryOrderId('desk-7', 'a.b:c_9')).toBe('hd2cxk7id3u4ph0jfw')
  })
})
