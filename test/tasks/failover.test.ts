import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tempDirs, type NodeProcess, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import type { TaskView } from '../../src/tasks/index.ts'
import { api, overlaps, readRecord, runsFor, spawnTaskMesh, taskEnv, taskOn, type ProcMesh } from './helpers.ts'
import { isAlive } from '../runner/helpers.ts'

const SLOW = { FAKE_CLAUDE_LINES: '30', FAKE_CLAUDE_INTERVAL_MS: '100' } // a 3-second run

describe('failover (nodes in their own processes, SIGKILL)', () => {
  let dirs: TempDirs
  let mesh: ProcMesh | undefined
  beforeEach(() => { dirs = tempDirs() })
  afterEach(async () => {
    await Promise.all((mesh?.procs ?? []).map(async p => { await p.kill('SIGKILL') }))
    mesh = undefined
    dirs.cleanup()
  })

  it('the running node dies mid-task: the task runs again elsewhere, never on two nodes at once', async () => {
    // node0 only coordinates; node1 runs a CLI that hangs (only a kill ends it), node2 one that
    // succeeds. node2 drains at first, so the first attempt lands on node1.
    mesh = await spawnTaskMesh(dirs, 3, (i, record) => taskEnv(dirs, `node${i}`, record, { capacity: i === 0 ? 0 : 1, env: i === 1 ? { FAKE_CLAUDE_MODE: 'hang' } : {} }))
    const m = mesh
    expect((await api<{ draining: boolean }>(m.url(2), 'POST', '/drain', { draining: true })).body.draining).toBe(true)
    const submitted = await api<{ task: TaskView }>(m.url(0), 'POST', '/tasks', { id: 'survive-1', prompt: 'survive-1: do the work' })
    expect(submitted.status).toBe(202)
    const first = await waitFor(() => runsFor(m.record, 'survive-1')[0], { what: 'the first run to start' })
    expect(first.node).toBe('node1')
    await waitFor(async () => (await taskOn(m.url(0), 'survive-1'))?.status === 'running', { what: 'the coordinator to see it running' })
    const victim = m.procs[1] as NodeProcess
    await victim.kill('SIGKILL')
    await api(m.url(2), 'POST', '/drain', { draining: false })

    const done = await waitFor(async () => {
      const task = await taskOn(m.url(0), 'survive-1')
      return task?.status === 'succeeded' ? task : undefined
    }, { timeoutMs: 20_000, what: 'the task to succeed on the other node' })
    expect(done.attempts.map(a => a.status)).toEqual(['lost', 'succeeded'])
    expect(done.attempts[0]?.code).toBe('TASK_LEASE_LAPSED')
    expect(done.attempts[1]?.node).toBe(m.procs[2]?.runtime.peerId)

    const runs = runsFor(m.record, 'survive-1')
    expect(runs.map(r => r.node)).toEqual(['node1', 'node2'])
    // The orphan guard killed the hanging run (and its process group) when its node died; it
    // ended before the second run began.
    expect(runs[0]?.end, 'the orphaned run never ended').toBeDefined()
    expect(overlaps(runs)).toEqual([])
    const grandchild = readRecord(m.record).find(e => e.event === 'grandchild' && e.pid === runs[0]?.pid)?.childPid
    expect(grandchild).toBeDefined()
    await waitFor(() => !isAlive(grandchild as number), { timeoutMs: 5000, what: 'the hanging run\'s grandchild to be gone' })
  })

  it('the placing node dies: another node takes its tasks over, the running one finishes undisturbed and the queued one is placed', async () => {
    mesh = await spawnTaskMesh(dirs, 3, (i, record) => taskEnv(dirs, `node${i}`, record, { capacity: i === 0 ? 0 : 1, env: SLOW }))
    const m = mesh
    const coordinator = m.procs[0] as NodeProcess
    for (const id of ['orphan-1', 'orphan-2', 'orphan-3']) {
      expect((await api(m.url(0), 'POST', '/tasks', { id, prompt: `slow ${id}` })).status).toBe(202)
    }
    // Two run (one per node), the third waits at node0 for a free slot.
    await waitFor(() => runsFor(m.record, 'orphan-').length === 2, { what: 'two runs to start' })
    await waitFor(async () => (await taskOn(m.url(1), 'orphan-3'))?.status === 'queued', { what: 'the third task to be known and queued everywhere' })
    await coordinator.kill('SIGKILL')

    const finals: TaskView[] = []
    for (const id of ['orphan-1', 'orphan-2', 'orphan-3']) {
      finals.push(await waitFor(async () => {
        const task = await taskOn(m.url(1), id)
        return task?.status === 'succeeded' ? task : undefined
      }, { timeoutMs: 25_000, what: `${id} to succeed after its coordinator died` }))
    }
    for (const task of finals) {
      expect(task.coordinator).not.toBe(coordinator.runtime.peerId)
      expect(task.coordinatorEpoch).toBe(1)
      expect(task.attempts.map(a => a.status)).toEqual(['succeeded'])
    }
    const survivors = [m.procs[1], m.procs[2]].map(p => p?.runtime.peerId)
    expect(survivors).toContain(finals[0]?.coordinator)
    // One run per task: the takeover did not start anything twice.
    for (const id of ['orphan-1', 'orphan-2', 'orphan-3']) expect(runsFor(m.record, id)).toHaveLength(1)
    expect(overlaps(runsFor(m.record, 'orphan-').filter(r => r.node === 'node1'))).toEqual([])
    expect(overlaps(runsFor(m.record, 'orphan-').filter(r => r.node === 'node2'))).toEqual([])
    // The other survivor shows the same records.
    for (const id of ['orphan-1', 'orphan-2', 'orphan-3']) {
      await waitFor(async () => (await taskOn(m.url(2), id))?.status === 'succeeded', { what: `${id} on node2` })
    }
  })
})
