import { describe, expect, it } from 'vitest'
import { decodeGossip } from '../../src/checkpoints/wire.ts'
import { CHECKPOINT_TOPIC } from '../../src/checkpoints/index.ts'
import { waitFor } from '../helpers/wait.ts'
import { converged, countOf, headsOf, idsOf, localLatest, idOfBytes, randomPayload, startMesh, text, type Three } from './mesh-helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('checkpoints across a 3-node mesh', () => {
  const fixture = useTestFixture()

  it('a post on A is the latest on B and C: same id, same bytes, confirmed by their peers', async () => {
    const [a, b, c] = (await startMesh(fixture.dirs, 3, {}, fixture.nodes)).nodes as Three
    const payload = text('resume here: the parser is half done')
    const posted = await a.checkpoints.post({ stream: 'owner/repo', payload, meta: { label: 'wip' } })
    expect(posted).toMatchObject({ stream: 'owner/repo', seq: 1, parents: [], author: a.peerId, confirmedBy: [] })

    await waitFor(async () => await converged([a, b, c], 'owner/repo', 1), { what: 'B and C to store the checkpoint' })
    for (const node of [b, c]) {
      const latest = await node.checkpoints.latest('owner/repo')
      expect(latest.checkpoint.id).toBe(posted.id)
      expect(latest.checkpoint).toMatchObject({ author: a.peerId, seq: 1, meta: { label: 'wip', size: payload.length } })
      expect(Buffer.from(latest.payload).equals(Buffer.from(payload))).toBe(true)
      // Both of its peers answered and neither knew a later one.
      expect(latest).toMatchObject({ confirmed: true, peersAsked: 2, peersAnswered: 2, source: 'local' })
    }
  })

  it('concurrent posts on A and B fork the stream; every node converges and the next post (on C) merges both heads', async () => {
    const [a, b, c] = (await startMesh(fixture.dirs, 3, {}, fixture.nodes)).nodes as Three
    // Both posts read the (empty) heads in the same turn of the event loop: neither can see
    // the other, so this is a real fork, not two posts in a row.
    const [fromA, fromB] = await Promise.all([
      a.checkpoints.post({ stream: 'fork', payload: text('from A') }),
      b.checkpoints.post({ stream: 'fork', payload: text('from B') })
    ])
    expect(fromA.seq).toBe(1)
    expect(fromB.seq).toBe(1)
    expect(fromA.id).not.toBe(fromB.id)

    await waitFor(async () => await converged([a, b, c], 'fork', 2), { what: 'both forks to reach every node' })
    const expectedLatest = [fromA.id, fromB.id].sort()
    for (const node of [a, b, c]) {
      expect(await headsOf(node, 'fork')).toBe(2)
      expect(await idsOf(node, 'fork')).toEqual(expectedLatest)
    }
    const latest = await Promise.all([a, b, c].map(async n => await localLatest(n, 'fork')))
    expect(new Set(latest).size).toBe(1)
    expect([fromA.id, fromB.id]).toContain(latest[0])

    const merge = await c.checkpoints.post({ stream: 'fork', payload: text('merge on C') })
    expect(merge.seq).toBe(2)
    expect([...merge.parents].sort()).toEqual(expectedLatest)
    await waitFor(async () => await converged([a, b, c], 'fork', 3), { what: 'the merge to reach every node' })
    for (const node of [a, b, c]) {
      expect(await localLatest(node, 'fork')).toBe(merge.id)
      expect(await headsOf(node, 'fork')).toBe(1)
      const report = await node.checkpoints.verify('fork')
      expect(report.ok).toBe(true)
    }
  })

  it('a 10 MiB payload is announced and pulled over the sync stream (not inline gossip) and reads back byte-identical', async () => {
    // No periodic anti-entropy: the pull that the announce triggers is the only way across.
    const [a, b, c] = (await startMesh(fixture.dirs, 3, { checkpoints: { syncIntervalMs: 600_000 } }, fixture.nodes)).nodes as Three
    // Record every checkpoint gossip message B and C receive, before their validators judge it.
    const seen: Array<{ on: string, kind: string, id?: string, chunks?: number, items: Uint8Array[] }> = []
    for (const node of [b, c]) {
      const validators = node.mesh.libp2p.services.pubsub.topicValidators
      const validate = validators.get(CHECKPOINT_TOPIC)
      if (validate === undefined) throw new Error('no checkpoint validator installed')
      validators.set(CHECKPOINT_TOPIC, async (peer, msg) => {
        const decoded = decodeGossip(msg.data)
        if (decoded !== undefined) {
          seen.push({
            on: node.peerId,
            kind: decoded.k,
            ...(decoded.k === 'ann' ? { id: decoded.id, chunks: decoded.chunks.length } : {}),
            items: decoded.k === 'cps' ? decoded.items : []
          })
        }
        return await validate(peer, msg)
      })
    }
    const payload = randomPayload(10 * 1024 * 1024)
    const posted = await a.checkpoints.post({ stream: 'big', payload, meta: { contentType: 'application/octet-stream' } })
    expect(posted.size).toBeGreaterThan(payload.length)

    await waitFor(async () => (await countOf(b, 'big')) === 1 && (await countOf(c, 'big')) === 1, { timeoutMs: 40_000, what: 'B and C to pull the 10 MiB checkpoint' })
    for (const node of [b, c]) {
      const got = await node.checkpoints.get(posted.id)
      expect(got.checkpoint.size).toBe(posted.size)
      expect(Buffer.from(got.payload).equals(Buffer.from(payload))).toBe(true)
    }
    // The body went by the pull path: an announce with one digest per 1 MiB chunk reached both
    // peers, and no gossip batch carried the envelope (nor anything above the inline limit).
    const chunks = Math.ceil(posted.size / (1024 * 1024))
    for (const node of [b, c]) {
      expect(seen.filter(m => m.on === node.peerId && m.kind === 'ann' && m.id === posted.id).length).toBeGreaterThanOrEqual(1)
    }
    expect(seen.filter(m => m.kind === 'ann').every(m => m.chunks === chunks)).toBe(true)
    const inline = seen.flatMap(m => m.items)
    expect(inline.every(item => item.length <= 256 * 1024)).toBe(true)
    expect(inline.map(item => idOfBytes(item))).not.toContain(posted.id)
  })
})
