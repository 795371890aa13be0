import { describe, expect, it } from 'vitest'
import { memberStates, seesAllAlive } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { overlaps, runsFor, startTaskMesh, waitForStatus } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

async function cut (side: IdlemeshNode[], other: IdlemeshNode[]): Promise<void> {
  for (const a of side) for (const b of other) { await a.mesh.denyPeer(b.peerId); await b.mesh.denyPeer(a.peerId) }
}

function heal (side: IdlemeshNode[], other: IdlemeshNode[]): void {
  for (const a of side) for (const b of other) { a.mesh.undenyPeer(b.peerId); b.mesh.undenyPeer(a.peerId) }
}

describe('partitions', () => {
  const fixture = useTestFixture()

  it('a runner cut off from the mesh kills its run when its lease runs out, before the majority runs the task again; it takes nothing over', async () => {
    const record = fixture.dirs.dir('record.jsonl')
    // node0 coordinates only; node1's CLI hangs; node2 drains until the cut.
    const mesh = await startTaskMesh(fixture.dirs, 3, i => ({
      capacity: i === 0 ? 0 : 1,
      runner: { env: { FAKE_CLAUDE_RECORD: record, FAKE_CLAUDE_NODE: `node${i}`, ...(i === 1 ? { FAKE_CLAUDE_MODE: 'hang' } : {}) } }
    }))
    fixture.nodes = mesh.nodes
    const [a, b, c] = fixture.nodes as [IdlemeshNode, IdlemeshNode, IdlemeshNode]
    c.tasks.setDraining(true)
    await waitFor(() => a.membership.list().find(m => m.peerId === c.peerId)?.load?.draining === true, { what: 'node0 to see node2 draining' })
    await a.tasks.submit({ id: 'split', prompt: 'split-brain test' })
    const running = await waitForStatus(a, 'split', ['running'])
    expect(running.node).toBe(b.peerId)
    await waitFor(() => runsFor(record, 'split-brain')[0] !== undefined, { what: 'the run on node1 to start' })

    await cut([b], [a, c])
    c.tasks.setDraining(false)
    const done = await waitForStatus(a, 'split', ['succeeded'], 20_000)
    expect(done.attempts.map(x => [x.node, x.status])).toEqual([[b.peerId, 'lost'], [c.peerId, 'succeeded']])
    const runs = runsFor(record, 'split-brain')
    expect(runs.map(r => r.node)).toEqual(['node1', 'node2'])
    expect(runs[0]?.end, 'node1 never killed its run').toBeDefined()
    expect(overlaps(runs)).toEqual([])
    // node1 gave the run up on its own, for want of renewals.
    await waitFor(() => b.tasks.get('split')?.attempts[0]?.status === 'lost', { what: 'node1 to record its attempt lost' })
    expect(b.tasks.health().counters).toMatchObject({ executor: { leasesLost: 1 } })
    // Alone, it sees no majority: it took nothing over and placed nothing.
    await waitFor(() => memberStates(b)[a.peerId] === 'dead', { timeoutMs: 10_000, what: 'node1 to see node0 dead' })
    expect(b.tasks.health().counters).toMatchObject({ scheduler: { takeovers: 0, offers: 0 } })
    expect(b.tasks.get('split')?.coordinator).toBe(a.peerId)

    heal([b], [a, c])
    await waitFor(() => fixture.nodes.every(n => seesAllAlive(n, fixture.nodes.map(x => x.peerId))), { timeoutMs: 20_000, what: 'the mesh to heal' })
    await waitFor(() => b.tasks.get('split')?.status === 'succeeded', { timeoutMs: 10_000, what: 'node1 to catch up on the task' })
    expect(b.tasks.get('split')?.attempts.map(x => x.status)).toEqual(['lost', 'succeeded'])
    expect(runsFor(record, 'split-brain')).toHaveLength(2)
  })
})
