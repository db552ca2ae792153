/**
 * The idempotency keys of a log's latest appends, as a hint: "maybe appended a moment ago" or
 * "not among the latest". A counting Bloom filter over the keys' hashes, with the hashes of the
 * latest `capacity` keys in a ring so the oldest leaves as a new one comes. It holds numbers,
 * not the key strings: a Set of the strings kept every key alive across young-generation
 * collections, and copying and promoting them cost more per append than the rest of the log's
 * own work. A "maybe" that is wrong (about 1.4% of keys not in it, at capacity) costs the caller
 * one indexed read; a key is never reported absent while it is among the latest.
 */
export class RecentKeys {
  /** How many of the latest keys' hashes fall in each slot; two slots per key. */
  private readonly counts = new Uint16Array(1 << 16)
  private readonly ring: Int32Array
  private next = 0
  private filled = 0

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0xffff) throw new RangeError(`capacity must be an integer in 1..65535, got ${capacity}`)
    this.ring = new Int32Array(capacity)
  }

  /** False only when `key` is not among the latest `capacity` added; true may be wrong. */
  mayHave(key: string): boolean {
    return this.mayHaveHash(keyHash(key))
  }

  add(key: string): void {
    this.addHash(keyHash(key))
  }

  /** `mayHave` for a key already hashed with `keyHash` (an append asks, then adds: one hash). */
  mayHaveHash(h: number): boolean {
    return this.counts[h & 0xffff]! > 0 && this.counts[h >>> 16]! > 0
  }

  addHash(h: number): void {
    if (this.filled === this.capacity) {
      const oldest = this.ring[this.next]!
      this.counts[oldest & 0xffff]!--
      this.counts[oldest >>> 16]!--
    } else this.filled++
    this.ring[this.next] = h
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1
    this.counts[h & 0xffff]!++
    this.counts[h >>> 16]!++
  }
}

/** FNV-1a over the UTF-16 units, 32 bits; its two halves pick a key's two slots. */
export function keyHash(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return h >>> 0
}
