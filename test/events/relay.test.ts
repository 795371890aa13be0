import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/index.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { EVENTS_TOPIC } from '../../src/events/index.ts'
import { initMesh, seesAllAlive, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'
import { GITHUB_SECRET, eventOn, githubDelivery, postWebhook } from './helpers.ts'

/** Small, so that a modest webhook is announced and pulled rather than carried in gossip. */
const INLINE_MAX_BYTES = 4096

const config: ConfigInput = {
  webhooks: { sources: { gh: { scheme: 'github', secrets: [GITHUB_SECRET] } } },
  // Periodic anti-entropy far beyond the test: only gossip and the pulls it triggers deliver.
  events: { inlineMaxBytes: INLINE_MAX_BYTES, syncIntervalMs: 600_000, startupSettleMs: 300 }
}

/** Peers `node` has in its gossipsub mesh for the events topic (those it forwards to). */
function eventMeshPeers (node: IdlemeshNode): string[] {
  // GossipSub's public interface does not declare getMeshPeers; the class behind it has it.
  const pubsub = node.mesh.libp2p.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }
  return pubsub.getMeshPeers(EVENTS_TOPIC).map(String)
}

/**
 * A line A – B – C: A and C block each other at the connection gater (a firewall or NAT in a real
 * mesh) but both stay members, so C accepts what A authored when B relays it. C cannot reach A:
 * the record of a large event, which A only announces, must be pulled from B, the neighbour that
 * delivered the announcement.
 */
describe('events across a relay (A – B – C, no A–C connection)', () => {
  const fixture = useTestFixture()

  it('a large (announced, pulled) webhook posted on A reaches C through B without waiting for anti-entropy', async () => {
    const dataDirs = await initMesh(fixture.dirs, 3)
    const first = await startTestNode(dataDirs[0] as string, config)
    fixture.nodes.push(first)
    const bootstrap = [first.multiaddrs()[0] as string]
    for (const dir of dataDirs.slice(1)) fixture.nodes.push(await startTestNode(dir, { ...config, bootstrap }))
    const [a, b, c] = fixture.nodes as [IdlemeshNode, IdlemeshNode, IdlemeshNode]
    const ids = fixture.nodes.map(n => n.peerId)
    await waitFor(() => fixture.nodes.every(n => seesAllAlive(n, ids)), { timeoutMs: 20_000, what: 'every node to see every other alive' })

    await a.mesh.blockPeer(c.peerId)
    await c.mesh.blockPeer(a.peerId)
    await waitFor(() => !a.mesh.isConnected(c.peerId) && !c.mesh.isConnected(a.peerId), { what: 'A and C to be disconnected' })
    // B forwards events only to peers not linked to their author (forwardOnlyWhereNeeded): it
    // must have heard, from A's and C's heartbeats, that they no longer are.
    await waitFor(() => !b.membership.linked(a.peerId, c.peerId), { what: 'B to learn A and C are not linked' })
    await waitFor(() => eventMeshPeers(b).includes(a.peerId) && eventMeshPeers(b).includes(c.peerId), { timeoutMs: 20_000, what: 'B to relay events between A and C' })
    // A cut link, not a revocation: C still counts A as a member.
    expect(c.mesh.gate.isAllowed(a.peerId)).toBe(true)
    await waitFor(() => c.membership.get(a.peerId)?.state === 'alive', { what: 'C to see A alive through B' })

    // Control: a small event rides inline in gossip and crosses B.
    const small = await githubDelivery('ping', { zen: 'inline', hook_id: 1 })
    expect((await postWebhook(a.httpUrl, '/webhook/gh', small)).status).toBe(202)
    await waitFor(() => c.events.store.has(`gh/${small.id}`), { timeoutMs: 10_000, what: 'an inline event to cross B' })

    const before = { b: { ...b.events.replicator.counters }, c: { ...c.events.replicator.counters } }
    const padding = randomBytes(8 * INLINE_MAX_BYTES).toString('hex')
    const big = await githubDelivery('ping', { zen: 'announced', hook_id: 2, padding })
    const key = `gh/${big.id}`
    const postedAt = Date.now()
    expect((await postWebhook(a.httpUrl, '/webhook/gh', big)).status).toBe(202)
    expect((await a.events.store.getBaseBytes(key))?.length).toBeGreaterThan(INLINE_MAX_BYTES)

    await waitFor(() => b.events.store.has(key), { timeoutMs: 10_000, what: 'B to pull the event from A' })
    await waitFor(() => c.events.store.has(key), { timeoutMs: 10_000, what: 'C to pull the event from B, the only peer that can serve it' })
    const elapsedMs = Date.now() - postedAt

    // Pulled on announcement (one record each), not carried inline and not by an anti-entropy round.
    expect(b.events.replicator.counters.pulled).toBe(before.b.pulled + 1)
    expect(c.events.replicator.counters.pulled).toBe(before.c.pulled + 1)
    expect(c.events.replicator.counters.syncRounds).toBe(before.c.syncRounds)
    expect(a.mesh.isConnected(c.peerId) || c.mesh.isConnected(a.peerId)).toBe(false)
    expect(elapsedMs).toBeLessThan(10_000)
    const view = await eventOn(c.httpUrl, big.id)
    expect(view?.event.receivedBy).toBe(a.peerId)
    expect((view?.event.payload as { padding?: string } | undefined)?.padding).toBe(padding)
  }, 60_000)
})
