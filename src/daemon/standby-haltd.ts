import { EventEmitter } from 'eventemitter3'
import { EXIT } from '../core/shutdown/exit-codes.js'
import type { HaltdConfig } from './config.js'
import { daemonStatus } from './status.js'
import { NotLeading, startStandby, type Lead } from './standby.js'
import { installStandbySignals } from './standby-signals.js'
import type { Haltd, HaltdEvents, HaltdPorts } from './types.js'

/**
 * `createHaltd` with `failover.role: "standby"`: one handle for the whole life of the instance.
 * While it follows, it answers as a standby (status `standby`, every order refused by its fenced
 * gate, the log and warm projections readable); once it took over, every call goes to the leading
 * haltd it became. What only a leader has (its run, startup, strategies, risk monitor) is a
 * `NotLeading` error until then.
 */
export async function haltdAsStandby(config: HaltdConfig, ports: HaltdPorts, lead: Lead): Promise<Haltd> {
  const clock = ports.clock ?? { now: () => Date.now() }
  const startedAt = clock.now()
  const standby = await startStandby(config, ports, lead)
  const emitter = new EventEmitter<HaltdEvents>()
  let leader: Haltd | undefined
  const notYet = (what: string): never => {
    throw new NotLeading(standby.instance, standby.engine, what)
  }

  const offLog = standby.log.subscribe(standby.log.lastSeq + 1, (e) => emitter.emit('event', e))
  let resolveExited!: (code: number) => void
  const exited = new Promise<number>((r) => (resolveExited = r))
  const signals = config.signals
    ? installStandbySignals({
        role: () => standby.status().role,
        stopFollowing: () => void handle.close(EXIT.clean),
        onSignal: (signal, action) => standby.logger.warn({ signal }, `${signal}: ${action}`),
      })
    : undefined
  if (signals) standby.takeStopsFrom(() => signals.take())
  const offGaveBack = standby.onGaveBack((why) => signals?.gaveBack(why))
  const quit = () => {
    signals?.off()
    offGaveBack()
    offLog()
  }
  standby.promoted.then(
    (h) => {
      // its handlers off only as the stops kept for the leader are asked of it
      signals?.promoted(h)
      quit()
      leader = h
      for (const name of ['event', 'lifecycle', 'shutdown', 'error'] as const) h.on(name, (...args: unknown[]) => emitter.emit(name, ...(args as [never])))
      emitter.emit('lifecycle', h.status().state as never)
      void h.exited.then((code) => {
        emitter.emit('exit', code)
        resolveExited(code)
      })
    },
    (e: unknown) => {
      // it took the lease but could not start leading: the leader's startup said why, this run ends as a crash
      quit()
      emitter.emit('error', e)
      void standby
        .close()
        .catch(() => undefined)
        .then(() => resolveExited(EXIT.crash))
    },
  )

  const handle: Haltd = {
    config,
    logger: standby.logger,
    get runId() {
      return leader?.runId ?? notYet('it has no run')
    },
    get log() {
      return leader?.log ?? standby.log
    },
    get gate() {
      return leader?.gate ?? standby.gate
    },
    get venues() {
      return leader?.venues ?? standby.venues
    },
    get strategies() {
      return leader?.strategies ?? notYet('it runs no strategy')
    },
    get risk() {
      return leader?.risk ?? notYet('it has no risk monitor')
    },
    get startup() {
      return leader?.startup ?? notYet('it has not started up')
    },
    get admin() {
      return leader ? leader.admin : standby.admin
    },
    /** A standby takes no orders: order entry is the leader's once it leads. */
    get orderEntry() {
      return leader?.orderEntry
    },
    orders: {
      submit: (order) => (leader ? leader.orders.submit(order) : standby.orders.submit(order)),
      cancel: (ref, options) => (leader ? leader.orders.cancel(ref, options) : standby.orders.cancel()),
    },
    state: () => leader?.state() ?? standby.state(),
    status: () => {
      if (leader) return leader.status()
      const s = standby.status()
      return {
        ...daemonStatus({
          lifecycle: s.role === 'stopped' ? 'stopped' : 'standby',
          state: standby.state(),
          run: { runId: '', pid: process.pid, startedAt },
          now: clock.now(),
          gate: standby.gate,
          venues: standby.venues.keys(),
          measuredLatency: () => undefined,
          strategies: [],
          shutdown: undefined,
          startup: undefined,
          adminUrl: standby.admin?.url,
        }),
        standby: s,
      }
    },
    shutdown: (r) =>
      leader ? leader.shutdown(r) : Promise.reject(new NotLeading(standby.instance, standby.engine, 'it has no shutdown to run (close it to stop following)')),
    handover: (r) => (leader ? leader.handover(r) : Promise.reject(new NotLeading(standby.instance, standby.engine, 'it has nothing to hand over'))),
    on: (name, listener) => {
      emitter.on(name, listener as never)
      return () => void emitter.off(name, listener as never)
    },
    async close(code = EXIT.clean) {
      if (leader) return leader.close(code)
      quit()
      await standby.close()
      // a standby that took the lease meanwhile is closed through the haltd it became
      if (standby.status().role === 'leader') return (await standby.promoted).close(code)
      emitter.emit('exit', code)
      resolveExited(code)
      if (ports.exitProcess) process.exit(code)
    },
    exited,
  }
  return handle
}
