import { describe, expect, it } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import type { CheckpointHealth, PostResult } from '../../src/checkpoints/index.ts'
import { memberStates, seesAllAlive } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { converged, headsOf, heal, idsOf, localLatest, split, startMesh, text, type Four } from './mesh-helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

/** Posts on `poster`, then waits until every node of its half holds the checkpoint. */
async function postInHalf (poster: IdlemeshNode, half: IdlemeshNode[], stream: string, label: string): Promise<PostResult> {
  const posted = await poster.checkpoints.post({ stream, payload: text(label), meta: { label } })
  await waitFor(async () => (await Promise.all(half.map(async n => (await idsOf(n, stream)).includes(posted.id)))).every(Boolean), { what: `${label} to reach its half` })
  return posted
}

async function checkpointHealth (node: IdlemeshNode): Promise<CheckpointHealth> {
  return (await node.health.report()).checkpoints as CheckpointHealth
}

describe('checkpoints across a partition', () => {
  const fixture = useTestFixture()

  it('both halves of a split mesh post to one stream; once healed every node holds every checkpoint, the same latest, and the next post merges the heads', async () => {
    const all = (await startMesh(fixture.dirs, 4, {}, fixture.nodes)).nodes as Four
    const [a, b, c, d] = all
    const left = [a, b]
    const right = [c, d]
    const base = await a.checkpoints.post({ stream: 'split', payload: text('base') })
    await waitFor(async () => await converged(all, 'split', 1), { what: 'the base everywhere' })

    await split(left, right)
    // Each half builds its own chain on the base: 3 posts on the left, 4 on the right.
    const leftPosts = [
      await postInHalf(a, left, 'split', 'L1'), await postInHalf(b, left, 'split', 'L2'), await postInHalf(a, left, 'split', 'L3')
    ]
    const rightPosts = [
      await postInHalf(c, right, 'split', 'R1'), await postInHalf(d, right, 'split', 'R2'),
      await postInHalf(d, right, 'split', 'R3'), await postInHalf(c, right, 'split', 'R4')
    ]
    await waitFor(async () => await converged(left, 'split', 4) && await converged(right, 'split', 5), { what: 'each half to agree within itself' })
    // Nothing crossed: each half holds only its own posts, and the halves disagree on latest.
    for (const n of left) for (const p of rightPosts) expect(await idsOf(n, 'split')).not.toContain(p.id)
    for (const n of right) for (const p of leftPosts) expect(await idsOf(n, 'split')).not.toContain(p.id)
    expect(await localLatest(a, 'split')).toBe(leftPosts[2]?.id)
    expect(await localLatest(c, 'split')).toBe(rightPosts[3]?.id)

    heal(left, right)
    await waitFor(async () => await converged(all, 'split', 1 + 3 + 4), { timeoutMs: 30_000, what: 'all 8 checkpoints on every node' })
    const expected = [base, ...leftPosts, ...rightPosts].map(p => p.id).sort()
    for (const n of all) {
      expect(await idsOf(n, 'split')).toEqual(expected)
      expect(await headsOf(n, 'split')).toBe(2)
    }
    // Both tips have seq 4 (L3: base+3) and 5 (R4: base+4): the greater (seq, id) wins everywhere.
    const latest = await Promise.all(all.map(async n => await localLatest(n, 'split')))
    expect(new Set(latest)).toEqual(new Set([rightPosts[3]?.id]))

    // Gossip needs the healed connections' subscriptions exchanged (seeing each other alive
    // proves it); otherwise the merge would wait for the next anti-entropy round.
    const ids = all.map(n => n.peerId)
    await waitFor(() => all.every(n => seesAllAlive(n, ids)), { timeoutMs: 20_000, what: 'everyone to see everyone alive again' })
    const merge = await b.checkpoints.post({ stream: 'split', payload: text('merge') })
    expect([...merge.parents].sort()).toEqual([leftPosts[2]?.id, rightPosts[3]?.id].sort())
    expect(merge.seq).toBe(6)
    await waitFor(async () => await converged(all, 'split', 9), { what: 'the merge everywhere' })
    for (const n of all) {
      expect(await localLatest(n, 'split')).toBe(merge.id)
      expect(await headsOf(n, 'split')).toBe(1)
    }
  })

  it('health reports each member\'s latest: agree while converged, not while the halves of a healed split still differ', async () => {
    const all = (await startMesh(fixture.dirs, 4, {}, fixture.nodes)).nodes as Four
    const [a, b, c, d] = all
    const ids = all.map(n => n.peerId)
    const left = [a, b]
    const right = [c, d]
    const first = await c.checkpoints.post({ stream: 'watched', payload: text('first') })
    await waitFor(async () => await converged(all, 'watched', 1), { what: 'the first post everywhere' })

    const converging = await checkpointHealth(a)
    expect(converging.streams).toEqual([{
      stream: 'watched',
      byMember: Object.fromEntries(ids.map(id => [id, { id: first.id, seq: 1 }])),
      unanswered: [],
      agree: true
    }])
    expect(converging.stored).toBe(1)
    expect(converging.rejected).toEqual({})

    await split(left, right)
    const l = await postInHalf(a, left, 'watched', 'left')
    const r = await postInHalf(d, right, 'watched', 'right')
    const lastPostAt = Date.now()
    await waitFor(() => left.every(n => right.every(o => memberStates(n)[o.peerId] === 'dead')), { timeoutMs: 20_000, what: 'the left half to see the right one dead' })
    // A cannot reach C and D: it does not report them as holding its own latest.
    const during = (await checkpointHealth(a)).streams.find(s => s.stream === 'watched')
    expect(during?.byMember[a.peerId]).toEqual({ id: l.id, seq: 2 })
    for (const o of right) expect(during?.byMember[o.peerId]?.id).not.toBe(l.id)

    // Pause catch-up (no sync on connect, no periodic sync; gossip validation stays on) so the
    // healed mesh keeps the two latests long enough to look at. Gossipsub also re-offers
    // (IHAVE) messages of its last 3 heartbeats to new peers: let those age out first, so only
    // the (paused) anti-entropy could carry the halves' posts across.
    for (const n of all) n.replicator.stop()
    await waitFor(() => Date.now() - lastPostAt > 4000, { what: 'gossipsub\'s message cache to age out' })
    heal(left, right)
    await waitFor(() => all.every(n => seesAllAlive(n, ids) && n.mesh.connectedPeers().length === 3), { timeoutMs: 20_000, what: 'the mesh to heal' })
    await waitFor(async () => {
      const report = await checkpointHealth(a)
      return report.streams.find(s => s.stream === 'watched' && Object.keys(s.byMember).length === 4)
    }, { what: 'A to hear every member\'s latest' })
    const differing = (await checkpointHealth(a)).streams.find(s => s.stream === 'watched')
    expect(differing).toEqual({
      stream: 'watched',
      byMember: {
        [a.peerId]: { id: l.id, seq: 2 },
        [b.peerId]: { id: l.id, seq: 2 },
        [c.peerId]: { id: r.id, seq: 2 },
        [d.peerId]: { id: r.id, seq: 2 }
      },
      unanswered: [],
      agree: false
    })

    // Resume: a sync round between every pair, then everyone reports the same latest.
    for (const n of all) for (const o of all) if (n !== o) await n.replicator.syncWith(o.peerId)
    await waitFor(async () => await converged(all, 'watched', 3), { what: 'the two halves\' posts everywhere' })
    const mergedLatest = await localLatest(a, 'watched')
    expect([l.id, r.id]).toContain(mergedLatest)
    for (const n of all) {
      const report = (await checkpointHealth(n)).streams.find(s => s.stream === 'watched')
      expect(report).toEqual({
        stream: 'watched',
        byMember: Object.fromEntries(ids.map(id => [id, { id: mergedLatest, seq: 2 }])),
        unanswered: [],
        agree: true
      })
    }
  })
})
