import { describe, expect, it } from 'vitest'
import { initMesh, seesAllAlive, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { converged, localLatest, text } from './mesh-helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('a node that joins late', () => {
  const fixture = useTestFixture()

  it('answers latest with the mesh\'s latest as soon as it has one connection, confirmed by the peers it asked', async () => {
    const [dirA, dirB, dirC] = await initMesh(fixture.dirs, 3) as [string, string, string]
    const a = await startTestNode(dirA)
    fixture.nodes.push(a)
    const b = await startTestNode(dirB, { bootstrap: [a.multiaddrs()[0] as string] })
    fixture.nodes.push(b)
    // Seeing each other alive means their gossip subscriptions are exchanged too: a post made
    // before that reaches the other only at the next anti-entropy round (10 s).
    await waitFor(() => seesAllAlive(a, [a.peerId, b.peerId]) && seesAllAlive(b, [a.peerId, b.peerId]), { what: 'A and B to see each other' })

    for (let i = 0; i < 3; i++) {
      await a.checkpoints.post({ stream: 'handoff', payload: text(`A ${i}`) })
      await waitFor(async () => await converged([a, b], 'handoff', 2 * i + 1), { what: 'A\'s post on B' })
      await b.checkpoints.post({ stream: 'handoff', payload: text(`B ${i}`) })
      await waitFor(async () => await converged([a, b], 'handoff', 2 * i + 2), { what: 'B\'s post on A' })
    }
    // End on a fork, so "the mesh's latest" is the (seq, id) choice between two heads.
    await Promise.all([
      a.checkpoints.post({ stream: 'handoff', payload: text('A last') }),
      b.checkpoints.post({ stream: 'handoff', payload: text('B last') })
    ])
    await waitFor(async () => await converged([a, b], 'handoff', 8), { what: 'the fork on both' })
    const meshLatest = await localLatest(a, 'handoff')
    const expectedPayload = Buffer.from((await a.checkpoints.get(meshLatest as string)).payload).toString()

    const c = await startTestNode(dirC, { bootstrap: [a.multiaddrs()[0] as string] })
    fixture.nodes.push(c)
    await waitFor(() => c.mesh.connectedPeers().length >= 1, { intervalMs: 5, what: 'C to have a connection' })
    const latest = await c.checkpoints.latest('handoff')

    expect(latest.checkpoint.id).toBe(meshLatest)
    expect(latest.checkpoint.seq).toBe(7)
    expect(Buffer.from(latest.payload).toString()).toBe(expectedPayload)
    expect(latest.confirmed).toBe(true)
    expect(latest.peersAnswered).toBeGreaterThanOrEqual(1)
    expect(latest.peersAsked).toBeGreaterThanOrEqual(latest.peersAnswered)
  })
})
