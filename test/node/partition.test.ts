import { describe, expect, it } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import { initMesh, memberStates, seesAllAlive, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('partition', () => {
  const fixture = useTestFixture()

  it('a 4-node mesh split in two halves heals by itself once the split is lifted', async () => {
    const dataDirs = await initMesh(fixture.dirs, 4)
    const first = await startTestNode(dataDirs[0] as string)
    fixture.nodes.push(first)
    for (const dir of dataDirs.slice(1)) fixture.nodes.push(await startTestNode(dir, { bootstrap: [first.multiaddrs()[0] as string] }))
    const ids = fixture.nodes.map(n => n.peerId)
    await waitFor(() => fixture.nodes.every(n => seesAllAlive(n, ids)), { what: 'the mesh to form' })

    const left = fixture.nodes.slice(0, 2)
    const right = fixture.nodes.slice(2)
    // Cut every connection across the halves and refuse redials both ways (the gater).
    for (const a of left) for (const b of right) { await a.mesh.denyPeer(b.peerId); await b.mesh.denyPeer(a.peerId) }

    const across = (side: IdlemeshNode[], other: IdlemeshNode[]): boolean =>
      side.every(n => other.every(o => memberStates(n)[o.peerId] === 'dead'))
    await waitFor(() => across(left, right) && across(right, left), { timeoutMs: 20_000, what: 'each half to see the other dead' })
    // Each half still sees itself whole.
    for (const n of left) expect(memberStates(n)[left[1 - left.indexOf(n)]?.peerId as string]).toBe('alive')
    for (const n of right) expect(memberStates(n)[right[1 - right.indexOf(n)]?.peerId as string]).toBe('alive')

    // Lift the split; nobody is told to reconnect: the reconnect loop and gossip must do it.
    for (const a of left) for (const b of right) { a.mesh.undenyPeer(b.peerId); b.mesh.undenyPeer(a.peerId) }
    await waitFor(() => fixture.nodes.every(n => seesAllAlive(n, ids)), { timeoutMs: 20_000, what: 'the mesh to heal' })
    await waitFor(() => fixture.nodes.every(n => n.mesh.connectedPeers().length === 3), { timeoutMs: 20_000, what: 'direct connections to come back' })
  })
})
