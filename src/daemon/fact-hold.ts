/**
 * Facts held back for a while, in their order: run at once while not held; while held, kept until
 * `release` runs them, or never run at all (a handover whose lease was taken: what the venues said
 * meanwhile is the new leader's to record).
 */
export type FactHold = {
  run(record: () => void): void
  /** Hold from now on; returns the release, which runs what was held and stops holding. */
  hold(): () => void
  /** Facts held now. */
  readonly held: number
}

export function createFactHold(): FactHold {
  let queue: (() => void)[] | undefined
  return {
    run(record) {
      if (queue) queue.push(record)
      else record()
    },
    hold() {
      queue ??= []
      return () => {
        const held = queue ?? []
        queue = undefined
        for (const record of held) record()
      }
    },
    get held() {
      return queue?.length ?? 0
    },
  }
}
