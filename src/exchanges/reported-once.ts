/**
 * Keys of what a venue sent that has been reported already (an order or a trade haltd cannot
 * read), so that the next look does not report it again. Bounded, since a venue may send anything:
 * beyond `cap` keys the oldest is forgotten, and reported again should it come back.
 */
export class ReportedOnce {
  private readonly keys = new Set<string>()

  constructor(private readonly cap: number) {}

  has(key: string): boolean {
    return this.keys.has(key)
  }

  add(key: string): void {
    this.keys.add(key)
    if (this.keys.size > this.cap) this.keys.delete(this.keys.values().next().value!)
  }
}
