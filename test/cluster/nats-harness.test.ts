import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type NatsCluster, startNats, startNatsCluster } from '../support/nats-server.js'

describe('the NATS test harness', () => {
  describe('given one JetStream server', () => {
    let server: Awaited<ReturnType<typeof startNats>>
    beforeAll(async () => {
      server = await startNats()
    })
    afterAll(() => server.close())

    it('a stream refuses a publish whose expected last sequence is not its last', async () => {
      const nc = await connect({ servers: server.url })
      const jsm = await jetstreamManager(nc)
      await jsm.streams.add({ name: 'T', subjects: ['t.>'] })
      const js = jetstream(nc)
      const first = await js.publish('t.a', 'one', { expect: { lastSequence: 0 }, msgID: 'm1' })
      expect(first.seq).toBe(1)
      const again = await js.publish('t.a', 'one', { expect: { lastSequence: 0 }, msgID: 'm1' })
      expect(again.duplicate).toBe(true)
      await expect(js.publish('t.a', 'two', { expect: { lastSequence: 0 }, msgID: 'm2' })).rejects.toThrow(/wrong last sequence/)
      await nc.close()
    })

    it('a key-value bucket takes a create once and an update only at its revision', async () => {
      const nc = await connect({ servers: server.url })
      const kv = await new Kvm(nc).create('lease', { ttl: 5_000 })
      const rev = await kv.create('leader', 'a')
      await expect(kv.create('leader', 'b')).rejects.toThrow()
      const next = await kv.update('leader', 'a2', rev)
      await expect(kv.update('leader', 'b', rev)).rejects.toThrow()
      expect((await kv.get('leader'))?.revision).toBe(next)
      await nc.close()
    })

    it('a stopped server comes back on the same port with its streams', async () => {
      await server.stop()
      expect(server.running()).toBe(false)
      await server.start()
      const nc = await connect({ servers: server.url })
      const jsm = await jetstreamManager(nc)
      expect((await jsm.streams.info('T')).state.messages).toBe(1)
      await nc.close()
    })
  })

  describe('given a cluster of three', () => {
    let cluster: NatsCluster
    beforeAll(async () => {
      cluster = await startNatsCluster(3)
    }, 30_000)
    afterAll(() => cluster.close())

    it('a stream replicated three ways keeps taking publishes with one node killed', async () => {
      const nc = await connect({ servers: cluster.urls })
      const jsm = await jetstreamManager(nc)
      await jsm.streams.add({ name: 'R', subjects: ['r.>'], num_replicas: 3 })
      const js = jetstream(nc)
      await js.publish('r.a', '1')
      const victim = cluster.nodes.find((n) => !nc.getServer().includes(String(n.port))) ?? cluster.nodes[2]
      await victim?.kill()
      let ack: { seq: number } | undefined
      for (let i = 0; i < 50 && !ack; i++) {
        ack = await js.publish('r.a', '2', { expect: { lastSequence: 1 }, msgID: 'r2' }).catch(() => undefined)
        if (!ack) await new Promise((r) => setTimeout(r, 200))
      }
      expect(ack?.seq).toBe(2)
      await nc.close()
    }, 30_000)
  })
})
