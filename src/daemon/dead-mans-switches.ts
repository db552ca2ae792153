import type { ExchangeGateway } from '../exchanges/gateway.js'
import type { EventLog } from '../core/log/event-log.js'
import { keepDeadMansSwitch, type DeadMansSwitchKeeper } from '../core/execution/venue-recorder.js'

export type DeadMansSwitchRelease = 'disarmed' | 'left-armed' | 'not-kept'

/** The switches a running daemon keeps armed, one per venue with a countdown. */
export type KeptSwitches = {
  readonly venues: readonly string[]
  /** Stop every refresh and leave every switch armed: an emergency, a crash, the process ending. */
  stopRefreshing(): void
  /**
   * Before a venue's connection closes: stop refreshing and, when the shutdown verified that
   * nothing at that venue is left in doubt, disarm (so orders kept on purpose survive);
   * otherwise leave it armed, so the venue cancels what haltd could not confirm.
   */
  release(venue: string, verified: boolean): Promise<DeadMansSwitchRelease>
}

/**
 * Arms the dead man's switch of every venue that has one and refreshes it while the daemon runs:
 * a countdown, or a cancel-on-disconnect window that has to be set (Bybit's disconnect
 * protection, 3–300 s: `deadMansSwitch.timeoutMs` is its window). A gateway whose switch is the
 * connection itself answers `armed: false` and nothing is kept.
 */
export function keepSwitches(
  log: EventLog,
  venues: Iterable<ExchangeGateway>,
  options: { timeoutMs: number; refreshMs: number; onError: (e: unknown) => void },
): KeptSwitches {
  const kept = new Map<string, DeadMansSwitchKeeper>()
  for (const gw of venues) {
    if (gw.capabilities.deadMansSwitch === 'none') continue
    const keeper = keepDeadMansSwitch(log, gw, options)
    keeper.ready.catch(options.onError)
    kept.set(gw.venue, keeper)
  }
  return {
    venues: [...kept.keys()],
    stopRefreshing() {
      for (const k of kept.values()) k.stop()
    },
    async release(venue, verified) {
      const keeper = kept.get(venue)
      if (!keeper) return 'not-kept'
      kept.delete(venue)
      if (!verified) {
        keeper.stop()
        return 'left-armed'
      }
      await keeper.disarm()
      return 'disarmed'
    },
  }
}

/** The switches a run keeps armed, usable before startup arms them: `keep` hands over the ones it armed. */
export type SwitchesArmedAtStartup = KeptSwitches & { keep(switches: KeptSwitches): void }

/**
 * The shutdown, the log's taps and the end of the run are wired to the switches before startup
 * arms them (once the venues are connected): until then, and when none are kept, there is nothing
 * to refresh or release.
 */
export function switchesArmedAtStartup(): SwitchesArmedAtStartup {
  let kept: KeptSwitches | undefined
  return {
    get venues() {
      return kept?.venues ?? []
    },
    keep(switches) {
      kept = switches
    },
    stopRefreshing() {
      kept?.stopRefreshing()
    },
    release(venue, verified) {
      return kept ? kept.release(venue, verified) : Promise.resolve('not-kept')
    },
  }
}
