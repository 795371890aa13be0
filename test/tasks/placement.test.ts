import { describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/wait.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { nodeName, runsOf, startTaskMesh, waitForStatus, type Run } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

/** Most runs at once on each node, from the fake CLI's start/end records. */
function peakConcurrency (runs: Run[]): Record<string, number> {
  const events: Array<{ node: string, at: number, d: number }> = []
  for (const r of runs) {
    events.push({ node: r.node, at: r.start, d: 1 })
    events.push({ node: r.node, at: r.end ?? Infinity, d: -1 })
  }
  // At equal times an end comes first: a slot freed and taken in the same millisecond is not two.
  events.sort((a, b) => a.at - b.at || a.d - b.d)
  const now: Record<string, number> = {}
  const peak: Record<string, number> = {}
  for (const e of events) {
    now[e.node] = (now[e.node] ?? 0) + e.d
    peak[e.node] = Math.max(peak[e.node] ?? 0, now[e.node] as number)
  }
  return peak
}

describe('placement', () => {
  const fixture = useTestFixture()

  it('offers each task to the least-loaded live node', async () => {
    const mesh = await startTaskMesh(fixture.dirs, 3, i => ({ capacity: [1, 2, 2][i], runner: { env: { FAKE_CLAUDE_RECORD: fixture.dirs.dir('record.jsonl'), FAKE_CLAUDE_NODE: `node${i}`, FAKE_CLAUDE_LINES: '100', FAKE_CLAUDE_INTERVAL_MS: '100' } } }))
    fixture.nodes = mesh.nodes
    const [a] = fixture.nodes as [IdlemeshNode]
    const used: Record<string, number> = { node0: 0, node1: 0, node2: 0 }
    const capacity: Record<string, number> = { node0: 1, node1: 2, node2: 2 }
    for (let i = 0; i < 5; i++) {
      const least = Math.min(...Object.keys(used).map(k => (used[k] as number) / (capacity[k] as number)))
      const id = `least-${i}`
      await a.tasks.submit({ id, prompt: `slow task ${i}` })
      const task = await waitForStatus(a, id, ['running'])
      const where = nodeName(mesh, task.node)
      // The node it went to had the smallest share of its capacity in use.
      expect((used[where] as number) / (capacity[where] as number), `task ${i} went to ${where} with ${JSON.stringify(used)}`).toBe(least)
      used[where] = (used[where] as number) + 1
    }
    expect(used).toEqual({ node0: 1, node1: 2, node2: 2 })
    // Full everywhere: the next one waits at its coordinator, and says why.
    await a.tasks.submit({ id: 'least-5', prompt: 'slow task 5' })
    await waitFor(() => a.tasks.get('least-5')?.waiting?.includes('no live node has room'), { what: 'the sixth task to wait for room' })
    expect(a.tasks.health().queued).toBe(1)
    await waitFor(() => a.membership.list().find(m => m.self)?.load?.queued === 1, { what: 'the load report to count the queued task' })
    for (let i = 0; i < 6; i++) await a.tasks.cancel(`least-${i}`, 'test over', { waitMs: 5000 })
  })

  it('spreads a burst over the mesh without any node going over its capacity', async () => {
    const record = fixture.dirs.dir('record.jsonl')
    const mesh = await startTaskMesh(fixture.dirs, 3, i => ({ capacity: i + 1, runner: { env: { FAKE_CLAUDE_RECORD: record, FAKE_CLAUDE_NODE: `node${i}`, FAKE_CLAUDE_LINES: '3', FAKE_CLAUDE_INTERVAL_MS: '150' } } }))
    fixture.nodes = mesh.nodes
    const ids: string[] = []
    // Most from one node, some from the others: three coordinators compete for the same slots.
    const submissions = []
    for (let i = 0; i < 24; i++) {
      const id = `burst-${i}`
      ids.push(id)
      submissions.push((fixture.nodes[i % 4 === 3 ? 1 + (i % 2) : 0] as IdlemeshNode).tasks.submit({ id, prompt: `slow burst ${i}` }))
    }
    await Promise.all(submissions)
    for (const id of ids) {
      await waitFor(() => fixture.nodes.some(n => n.tasks.get(id)?.status === 'succeeded'), { timeoutMs: 40_000, what: `${id} to succeed` })
    }
    const runs = runsOf(record)
    expect(runs).toHaveLength(24)
    const peak = peakConcurrency(runs)
    expect(peak.node0).toBeLessThanOrEqual(1)
    expect(peak.node1).toBeLessThanOrEqual(2)
    expect(peak.node2).toBeLessThanOrEqual(3)
    // Every slot was used: the burst did not pile onto one node.
    expect(peak).toEqual({ node0: 1, node1: 2, node2: 3 })
    for (const id of ids) expect(fixture.nodes[0]?.tasks.get(id)?.attemptCount).toBe(1)
  })
})
