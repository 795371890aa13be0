import { describe, expect, it } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import type { PostResult } from '../../src/checkpoints/index.ts'
import { startTestNode, stopAll } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import type { Head } from '../../src/checkpoints/format.ts'
import { converged, countOf, countOnDisk, idsOf, localLatest, sealAs, startMesh, text, type Three } from './mesh-helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('checkpoints survive stops and restarts', () => {
  const fixture = useTestFixture()

  it('a node stopped during 200 posts on another catches up by itself after a restart on the same data dir', async () => {
    const { nodes: started, dataDirs } = await startMesh(fixture.dirs, 3, {}, fixture.nodes)
    const [a, b, c] = started as Three
    for (let i = 0; i < 5; i++) await a.checkpoints.post({ stream: 'busy', payload: text(`before ${i}`) })
    await waitFor(async () => await converged([a, b, c], 'busy', 5), { what: 'the first 5 to reach every node' })

    let stopping: Promise<void> | undefined
    for (let i = 0; i < 200; i++) {
      await a.checkpoints.post({ stream: 'busy', payload: text(`during ${i}`) })
      if (i === 50) stopping = c.stop()
    }
    await stopping
    // C really missed some: what it holds durably is short of the 205.
    const onDisk = await countOnDisk(dataDirs[2] as string, 'busy')
    expect(onDisk).toBeGreaterThanOrEqual(5)
    expect(onDisk).toBeLessThan(205)

    // Same data dir, so the same peer ID; it only knows where A listens. No sync is requested:
    // anti-entropy on connect (or gossip of a later post) has to do it.
    const c2 = await startTestNode(dataDirs[2] as string, { bootstrap: [a.multiaddrs()[0] as string] })
    fixture.nodes.push(c2)
    expect(c2.peerId).toBe(c.peerId)
    expect(await countOf(c2, 'busy')).toBe(onDisk)
    await waitFor(async () => await converged([a, b, c2], 'busy', 205), { timeoutMs: 30_000, what: 'the restarted node to hold all 205' })
    expect(await idsOf(c2, 'busy')).toEqual(await idsOf(a, 'busy'))
    expect(await localLatest(c2, 'busy')).toBe(await localLatest(a, 'busy'))
    expect((await c2.checkpoints.verify('busy')).ok).toBe(true)
  })

  it('a restarted node has everything it held, with no peer connected', async () => {
    const { nodes: started, dataDirs } = await startMesh(fixture.dirs, 3, {}, fixture.nodes)
    const [a, b, c] = started as Three
    // A mix of its own posts, others' posts it received, and a fork it merged.
    const posted: PostResult[] = []
    posted.push(await a.checkpoints.post({ stream: 'keep', payload: text('a1') }))
    await waitFor(async () => await converged([a, b, c], 'keep', 1), { what: 'a1 everywhere' })
    posted.push(await b.checkpoints.post({ stream: 'keep', payload: text('b2') }))
    await waitFor(async () => await converged([a, b, c], 'keep', 2), { what: 'b2 everywhere' })
    posted.push(...await Promise.all([
      b.checkpoints.post({ stream: 'keep', payload: text('b3') }),
      c.checkpoints.post({ stream: 'keep', payload: text('c3') })
    ]))
    await waitFor(async () => await converged([a, b, c], 'keep', 4), { what: 'the fork everywhere' })
    posted.push(await a.checkpoints.post({ stream: 'keep', payload: text('a4 merges') }))
    posted.push(await c.checkpoints.post({ stream: 'other', payload: text('other stream') }))
    await waitFor(async () => await converged([a, b, c], 'keep', 5) && await converged([a, b, c], 'other', 1), { what: 'everything everywhere' })
    const latestBefore = await a.checkpoints.latest('keep', { local: true })
    const historyBefore = await a.checkpoints.history('keep')

    await stopAll([a, b, c])
    // No bootstrap, and every other node is down: whatever it answers comes from its own disk.
    const a2 = await startTestNode(dataDirs[0] as string)
    fixture.nodes.push(a2)
    expect(a2.mesh.connectedPeers()).toEqual([])

    const latest = await a2.checkpoints.latest('keep', { local: true })
    expect(latest.checkpoint).toEqual(latestBefore.checkpoint)
    expect(Buffer.from(latest.payload).toString()).toBe('a4 merges')
    expect(await a2.checkpoints.history('keep')).toEqual(historyBefore)
    expect(await a2.checkpoints.streams()).toEqual([
      { stream: 'keep', count: 5, heads: 1, latest: { id: latestBefore.checkpoint.id, seq: 4 } },
      { stream: 'other', count: 1, heads: 1, latest: { id: posted[5]?.id, seq: 1 } }
    ])
    const payloads = ['a1', 'b2', 'b3', 'c3', 'a4 merges', 'other stream']
    for (const [i, p] of posted.entries()) {
      const got = await a2.checkpoints.get(p.id)
      expect(got.checkpoint.id).toBe(p.id)
      expect(got.checkpoint.author).toBe(p.author)
      expect(Buffer.from(got.payload).toString()).toBe(payloads[i])
    }
    expect((await a2.checkpoints.verify('keep')).ok).toBe(true)
    expect(a2.mesh.connectedPeers()).toEqual([])
  })

  // BUG (src/checkpoints/store.ts, CheckpointStore.history): history is read from LevelDB keys
  // only, while count, heads, latest and get already include checkpoints accepted from peers
  // that the group commit has not written yet. Right after ingest, `latest` names a checkpoint
  // that `history` does not list.
  it('history lists every checkpoint that streams() counts and latest() names, right after they arrive from a peer', async () => {
    const { nodes: started, dataDirs } = await startMesh(fixture.dirs, 2, {}, fixture.nodes)
    const b = started[1] as IdlemeshNode
    // 50 checkpoints in a chain, authored by A as its node would seal them, handed to B's
    // replicator the way the gossip validator and the sync pull hand them over.
    const chain: Array<{ id: string, bytes: Uint8Array }> = []
    let parents: Head[] = []
    for (let i = 0; i < 50; i++) {
      const cp = sealAs(dataDirs[0] as string, 'lag', text(`from A ${i}`), parents)
      chain.push({ id: cp.id.toString(), bytes: cp.bytes })
      parents = [{ id: cp.id, seq: cp.envelope.seq }]
    }
    for (const cp of chain) expect(b.replicator.ingest(cp.bytes)).toBe('stored')

    expect(await countOf(b, 'lag')).toBe(50)
    const latest = await localLatest(b, 'lag')
    expect(latest).toBe(chain[49]?.id)
    const history = await b.checkpoints.history('lag', { limit: 100 })
    expect(history.map(v => v.id)).toContain(latest)
    expect(history).toHaveLength(50)
  })
})
