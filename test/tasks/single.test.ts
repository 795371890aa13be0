import { describe, expect, it } from 'vitest'
import { startTestNode } from '../helpers/nodes.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { runsOf, startTaskMesh, taskConfig, waitForStatus } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('tasks on one node', () => {
  const fixture = useTestFixture()

  it('runs a submitted task and records its result, cost and log', async () => {
    const mesh = await startTaskMesh(fixture.dirs, 1)
    fixture.nodes = mesh.nodes
    const node = fixture.nodes[0] as IdlemeshNode
    const submitted = await node.tasks.submit({ id: 'hello-1', prompt: 'say hello' })
    expect(submitted.status).toBe('queued')
    const done = await waitForStatus(node, 'hello-1', ['succeeded', 'failed', 'dead'])
    expect(done.status, JSON.stringify(done, null, 2)).toBe('succeeded')
    expect(done.result).toBe('echo: say hello')
    expect(done.costUsd).toBeCloseTo(0.0123)
    expect(done.attempts).toHaveLength(1)
    expect(done.attempts[0]?.node).toBe(node.peerId)
    expect(runsOf(mesh.record)).toHaveLength(1)
    const lines = []
    for await (const line of node.tasks.logs('hello-1')) lines.push(line)
    expect(lines.map(l => JSON.parse(l.text).type)).toEqual(['system', 'assistant', 'user', 'result'])
    const again = await node.tasks.submit({ id: 'hello-1', prompt: 'say hello' })
    expect((again as { duplicate?: boolean }).duplicate).toBe(true)

    // Records and logs are durable: a restart on the same data dir still has them.
    await node.stop()
    const restarted = await startTestNode(mesh.dataDirs[0] as string, { tasks: taskConfig(fixture.dirs, 'node0', mesh.record) })
    fixture.nodes = [restarted]
    expect(restarted.tasks.get('hello-1')).toMatchObject({ status: 'succeeded', result: 'echo: say hello', costUsd: 0.0123 })
    const replayed = []
    for await (const line of restarted.tasks.logs('hello-1')) replayed.push(line.text)
    expect(replayed).toEqual(lines.map(l => l.text))
  })
})
