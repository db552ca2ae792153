/**
 * `work`, or a rejection with `message` once `ms` have passed, whichever comes first. The error
 * is made only when the limit is hit: the router sets a limit on every submit and cancel, and an
 * Error built up front (with its stack) per call costs more than the rest of a cancel's own work.
 */
export function withinMs<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms)
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (e: unknown) => {
        clearTimeout(timer)
        reject(e)
      },
    )
  })
}
