import { describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/wait.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { isAlive } from '../runner/helpers.ts'
import { readRecord, runsFor, startTaskMesh, waitForStatus } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('watchdog, cancel, retries', () => {
  const fixture = useTestFixture()

  it('the watchdog kills a hanging run; the task is retried, then dead-lettered', async () => {
    const mesh = await startTaskMesh(fixture.dirs, 1, () => ({ maxAttempts: 2, runner: { idleTimeoutMs: 600 } }))
    fixture.nodes = mesh.nodes
    const node = fixture.nodes[0] as IdlemeshNode
    await node.tasks.submit({ id: 'stuck', prompt: 'hang forever' })
    const dead = await waitForStatus(node, 'stuck', ['dead', 'failed', 'succeeded'], 20_000)
    expect(dead.status).toBe('dead')
    expect(dead.code).toBe('TASK_DEAD_LETTER')
    expect(dead.reason).toMatch(/gave up after 2 attempts.*watchdog/)
    expect(dead.attempts.map(a => [a.status, a.code])).toEqual([['failed', 'RUNNER_WATCHDOG'], ['failed', 'RUNNER_WATCHDOG']])
    const runs = runsFor(mesh.record, 'hang forever')
    expect(runs).toHaveLength(2)
    expect(runs.every(r => r.end !== undefined)).toBe(true)
    // The whole process group went, the grandchild the hanging CLI started included.
    const grandchildren = readRecord(mesh.record).filter(e => e.event === 'grandchild').map(e => e.childPid as number)
    expect(grandchildren).toHaveLength(2)
    await waitFor(() => grandchildren.every(pid => !isAlive(pid)), { timeoutMs: 5000, what: 'the grandchildren to be gone' })
  })

  it('a non-retryable failure (max turns) fails at once; an error result is retried', async () => {
    const mesh = await startTaskMesh(fixture.dirs, 1, () => ({ maxAttempts: 3 }))
    fixture.nodes = mesh.nodes
    const node = fixture.nodes[0] as IdlemeshNode
    await node.tasks.submit({ id: 'turns', prompt: 'max-turns please' })
    await node.tasks.submit({ id: 'errs', prompt: 'error please' })
    const turns = await waitForStatus(node, 'turns', ['failed', 'dead'])
    expect(turns.status).toBe('failed')
    expect(turns.code).toBe('error_max_turns')
    expect(turns.attemptCount).toBe(1)
    const errs = await waitForStatus(node, 'errs', ['failed', 'dead'])
    expect(errs.status).toBe('dead')
    expect(errs.attemptCount).toBe(3)
    expect(errs.attempts[0]?.reason).toContain('the tool failed badly')
  })

  it('cancel on one node kills the run on another, its process group included', async () => {
    const mesh = await startTaskMesh(fixture.dirs, 2, i => ({ capacity: i === 0 ? 0 : 1 }))
    fixture.nodes = mesh.nodes
    const [a, b] = fixture.nodes as [IdlemeshNode, IdlemeshNode]
    await a.tasks.submit({ id: 'long', prompt: 'hang until cancelled' })
    const running = await waitForStatus(a, 'long', ['running'])
    expect(running.node).toBe(b.peerId)
    await waitFor(() => readRecord(mesh.record).some(e => e.event === 'grandchild'), { what: 'the run to start its grandchild' })
    const started = Date.now()
    const result = await a.tasks.cancel('long', 'no longer needed')
    expect(result.ended).toBe(true)
    expect(result.task.status).toBe('cancelled')
    expect(result.task.attempts[0]?.status).toBe('cancelled')
    expect(result.task.reason).toBe('no longer needed')
    expect(Date.now() - started).toBeLessThan(3000)
    const [run] = runsFor(mesh.record, 'hang until cancelled')
    expect(run?.end).toBeDefined()
    const grandchild = readRecord(mesh.record).find(e => e.event === 'grandchild')?.childPid as number
    await waitFor(() => !isAlive(grandchild), { timeoutMs: 5000, what: 'the grandchild to be gone' })
    expect((await waitForStatus(b, 'long', ['cancelled'])).status).toBe('cancelled')

    // A queued task is cancelled on the spot.
    await a.tasks.submit({ id: 'never', prompt: 'hang 1' })
    await a.tasks.submit({ id: 'never-2', prompt: 'hang 2' })
    await waitFor(() => a.tasks.get('never-2')?.waiting !== undefined || a.tasks.get('never')?.waiting !== undefined, { what: 'one of them to wait' })
    const queued = a.tasks.get('never')?.status === 'queued' ? 'never' : 'never-2'
    const cancelled = await a.tasks.cancel(queued)
    expect(cancelled.task.status).toBe('cancelled')
    expect(cancelled.task.attemptCount).toBe(0)
    await a.tasks.cancel(queued === 'never' ? 'never-2' : 'never')
  })
})
