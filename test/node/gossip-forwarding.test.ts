import { describe, expect, it } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import { split, startMesh, type Three } from '../checkpoints/mesh-helpers.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'

const TOPIC = 'idlemesh/test/forwarding'
const MESSAGES = 30

/** Counts every copy of a `topic` message that reaches the node's gossipsub, duplicates included. */
function countCopies (node: IdlemeshNode, topic = TOPIC): { copies: number } {
  const counter = { copies: 0 }
  // Reaches into gossipsub: a duplicate is dropped before anything observable happens.
  const pubsub = node.mesh.libp2p.services.pubsub as unknown as { handleReceivedMessage: (from: unknown, msg: { topic: string }) => Promise<void> }
  const original = pubsub.handleReceivedMessage.bind(pubsub)
  pubsub.handleReceivedMessage = async (from, msg) => {
    if (msg.topic === topic) counter.copies++
    await original(from, msg)
  }
  return counter
}

describe('gossip forwarding', () => {
  const fixture = useTestFixture()

  it('in a fully connected mesh, a large message reaches each member once, not once per neighbour', async () => {
    const [a, b, c] = (await startMesh(fixture.dirs, 3, {}, fixture.nodes)).nodes as Three
    const delivered = { b: 0, c: 0 }
    for (const [name, node] of [['b', b], ['c', c]] as const) {
      node.mesh.setValidator(TOPIC, () => 'valid')
      node.mesh.subscribe(TOPIC, () => { delivered[name]++ })
    }
    a.mesh.subscribe(TOPIC, () => {})
    // getMeshPeers is on gossipsub's class, not on the interface it is typed by.
    const meshPeers = (node: IdlemeshNode): string[] => (node.mesh.libp2p.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(TOPIC)
    await waitFor(() => [a, b, c].every(n => meshPeers(n).length === 2), { timeoutMs: 10_000, what: 'every node to have both others in its topic mesh' })

    const copies = { b: countCopies(b), c: countCopies(c) }
    for (let i = 0; i < MESSAGES; i++) {
      const data = new Uint8Array(8 * 1024).fill(i)
      await a.mesh.publish(TOPIC, data)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    await waitFor(() => delivered.b === MESSAGES && delivered.c === MESSAGES, { what: 'every message at B and C' })
    // Forwarded copies would have arrived by now too.
    await new Promise(resolve => setTimeout(resolve, 300))
    // Without the forwarding delay B and C each forward every message to the other, which already
    // has it: 2 × MESSAGES copies each. The margin is for a loaded machine, where an IDONTWANT
    // can still arrive late.
    expect(copies.b.copies).toBeLessThan(MESSAGES * 1.5)
    expect(copies.c.copies).toBeLessThan(MESSAGES * 1.5)
  })

  it('with forwardOnlyWhereNeeded, nothing is forwarded between members all linked to the author, even small messages', async () => {
    const [a, b, c] = (await startMesh(fixture.dirs, 3, {}, fixture.nodes)).nodes as Three
    const topic = `${TOPIC}/where-needed`
    const delivered = { b: 0, c: 0 }
    for (const [name, node] of [['b', b], ['c', c]] as const) {
      node.mesh.setValidator(topic, () => { delivered[name]++; return 'valid' }, { forwardOnlyWhereNeeded: true })
      node.mesh.subscribe(topic, () => {})
    }
    a.mesh.subscribe(topic, () => {})
    const meshPeers = (node: IdlemeshNode): string[] => (node.mesh.libp2p.services.pubsub as unknown as { getMeshPeers: (t: string) => string[] }).getMeshPeers(topic)
    await waitFor(() => [a, b, c].every(n => meshPeers(n).length === 2), { timeoutMs: 10_000, what: 'every node to have both others in its topic mesh' })
    // Links travel in heartbeats: wait until B and C each know the other is linked to A.
    await waitFor(() => b.membership.linked(c.peerId, a.peerId) && c.membership.linked(b.peerId, a.peerId), { what: 'the links to be known' })

    const copies = { b: countCopies(b, topic), c: countCopies(c, topic) }
    for (let i = 0; i < MESSAGES; i++) {
      await a.mesh.publish(topic, new Uint8Array(100).fill(i))
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    await waitFor(() => delivered.b === MESSAGES && delivered.c === MESSAGES, { what: 'every message at B and C' })
    await new Promise(resolve => setTimeout(resolve, 300))
    // Small messages carry no IDONTWANT: without the option each would reach B and C twice.
    expect(copies.b.copies).toBe(MESSAGES)
    expect(copies.c.copies).toBe(MESSAGES)
  })

  it('a topic set with keepInMessageCache false stays out of gossipsub\'s message cache, and is still delivered', async () => {
    const [a, b] = (await startMesh(fixture.dirs, 2, {}, fixture.nodes)).nodes as [IdlemeshNode, IdlemeshNode]
    const cached = `${TOPIC}/cached`
    const uncached = `${TOPIC}/uncached`
    const delivered = { cached: 0, uncached: 0 }
    for (const node of [a, b]) {
      node.mesh.setValidator(cached, () => 'valid')
      node.mesh.setValidator(uncached, () => 'valid', { keepInMessageCache: false })
    }
    b.mesh.subscribe(cached, () => { delivered.cached++ })
    b.mesh.subscribe(uncached, () => { delivered.uncached++ })
    a.mesh.subscribe(cached, () => {})
    a.mesh.subscribe(uncached, () => {})
    const meshPeers = (node: IdlemeshNode, topic: string): string[] => (node.mesh.libp2p.services.pubsub as unknown as { getMeshPeers: (t: string) => string[] }).getMeshPeers(topic)
    await waitFor(() => meshPeers(a, cached).length === 1 && meshPeers(a, uncached).length === 1, { timeoutMs: 10_000, what: 'B in both topic meshes of A' })

    for (let i = 0; i < 5; i++) {
      await a.mesh.publish(cached, new Uint8Array(2048).fill(i))
      await a.mesh.publish(uncached, new Uint8Array(2048).fill(i))
    }
    await waitFor(() => delivered.cached === 5 && delivered.uncached === 5, { what: 'every message at B' })
    // Reaches into gossipsub: the cache is on its class, not on the interface it is typed by.
    const cachedTopics = (node: IdlemeshNode): string[] => [...(node.mesh.libp2p.services.pubsub as unknown as { mcache: { msgs: Map<string, { message: { topic: string } }> } }).mcache.msgs.values()].map(e => e.message.topic)
    // A published them, B received them: only the cached topic's are kept, by each.
    for (const node of [a, b]) {
      expect(cachedTopics(node).filter(t => t === cached)).toHaveLength(5)
      expect(cachedTopics(node).filter(t => t === uncached)).toHaveLength(0)
    }
  })

  it('links: known from heartbeats, both sides needed, and a dropped link is announced at once', async () => {
    // Heartbeats every 5 s: within this test, only the ones sent on a connection change move.
    const slow = { membership: { heartbeatIntervalMs: 5000, suspectAfterMs: 20_000, deadAfterMs: 40_000 } }
    const [a, b, c] = (await startMesh(fixture.dirs, 3, slow, fixture.nodes)).nodes as Three
    await waitFor(() => b.membership.linked(a.peerId, c.peerId) && b.membership.linked(c.peerId, a.peerId), { what: 'B to learn that A and C are linked' })
    expect(b.membership.linked(a.peerId, b.peerId)).toBe(true)
    const droppedAt = Date.now()
    await split([a], [c])
    await waitFor(() => !b.membership.linked(a.peerId, c.peerId), { timeoutMs: 2000, what: 'B to learn that the A–C link is gone' })
    // Well before the next periodic heartbeat could have told it.
    expect(Date.now() - droppedAt).toBeLessThan(2500)
    expect(b.membership.linked(a.peerId, b.peerId)).toBe(true)
  })
})
