import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { EVENTS_TOPIC } from '../../src/events/wire.ts'
import { initMesh, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('event gossip', () => {
  const fixture = useTestFixture()

  it('a burst of webhooks goes out in compressed batches, and every event arrives whole', async () => {
    const [dirA, dirB] = await initMesh(fixture.dirs, 2) as [string, string]
    const config = { events: { startupSettleMs: 0 } }
    const a = await startTestNode(dirA, config)
    fixture.nodes.push(a)
    const b = await startTestNode(dirB, { ...config, bootstrap: [a.multiaddrs()[0] as string] })
    fixture.nodes.push(b)
    await waitFor(() => b.events.dispatcher.ready() && a.events.replicator.hasSyncedWith(b.peerId), { what: 'A and B connected and synced' })

    const kinds: string[] = []
    const publish = a.mesh.publish.bind(a.mesh)
    a.mesh.publish = async (topic, data) => {
      if (topic === EVENTS_TOPIC) kinds.push((dagCbor.decode(data) as { k: string }).k)
      return await publish(topic, data)
    }
    const count = 60
    const padding = 'p'.repeat(1024)
    await Promise.all(Array.from({ length: count }, async (_, n) => {
      await a.events.ingest({ source: 'gh', id: `burst-${n}`, event: { provider: 'github', type: 'check_run', action: 'completed', summary: `run ${n}` }, payload: { n, padding } })
    }))
    await waitFor(() => b.events.store.size === count, { what: `all ${count} events on B` })
    // Gossip brought them (a periodic anti-entropy round leaves the last 30 s to gossip).
    expect(b.events.replicator.counters.pulled).toBe(0)
    expect(kinds).toContain('z')
    const view = await b.events.get('burst-42')
    expect(view.event.payload).toEqual({ n: 42, padding })
    expect(view.event.receivedBy).toBe(a.peerId)
  })
})
