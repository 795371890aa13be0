import { describe, expect, it } from 'vitest'
import { initMesh, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('anti-entropy', () => {
  const fixture = useTestFixture()

  it('a node joining late pulls every event it missed (more than one sync frame of them), then acts', async () => {
    const [dirA, dirB] = await initMesh(fixture.dirs, 2) as [string, string]
    const a = await startTestNode(dirA, { events: { startupSettleMs: 0 } })
    fixture.nodes.push(a)
    const count = 9000
    let next = 0
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < count) {
        const n = next++
        await a.events.ingest({ source: 'gh', id: `missed-${n}`, event: { provider: 'github', type: 'ping', summary: `ping ${n}` }, payload: { zen: `event ${n}` } })
      }
    }))
    expect(a.events.store.size).toBe(count)

    // B has bootstrap peers: it does not act before its first sync brought it what A holds.
    const b = await startTestNode(dirB, { bootstrap: [a.multiaddrs()[0] as string], events: { startupSettleMs: 0 } })
    fixture.nodes.push(b)
    expect(b.events.dispatcher.ready()).toBe(false)
    await waitFor(() => b.events.store.size === count, { timeoutMs: 40_000, what: `all ${count} events on B` })
    await waitFor(() => b.events.dispatcher.ready(), { what: 'B ready once synced' })
    const view = await b.events.get('missed-4321')
    expect(view.event.payload).toEqual({ zen: 'event 4321' })
    expect(view.event.receivedBy).toBe(a.peerId)
    // What B pulled is what A holds: both sides' digests agree.
    expect(JSON.stringify(b.events.store.hourDigestList()) === JSON.stringify(a.events.store.hourDigestList())).toBe(true)
  })

  it('an event too large for gossip is announced and pulled by its peers', async () => {
    const [dirA, dirB] = await initMesh(fixture.dirs, 2) as [string, string]
    const config = { events: { startupSettleMs: 0, inlineMaxBytes: 1024 } }
    const a = await startTestNode(dirA, config)
    fixture.nodes.push(a)
    const b = await startTestNode(dirB, { ...config, bootstrap: [a.multiaddrs()[0] as string] })
    fixture.nodes.push(b)
    await waitFor(() => b.events.dispatcher.ready() && a.mesh.connectedPeers().includes(b.peerId), { what: 'B connected and synced' })
    const big = 'y'.repeat(64 * 1024)
    await a.events.ingest({ source: 'gh', id: 'large-1', event: { provider: 'github', type: 'ping', summary: 'large' }, payload: { big } })
    // It comes by the announce-and-pull path (counted once the pull is on disk), not inline.
    await waitFor(() => b.events.store.has('gh/large-1') && b.events.replicator.counters.pulled > 0, { what: 'the large event pulled by B' })
    expect((await b.events.get('large-1')).event.payload).toEqual({ big })
  })
})
