import { describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/wait.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { conversationStream } from '../../src/tasks/index.ts'
import { nodeName, overlaps, runsFor, startTaskMesh, waitForStatus } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

const KEY = 'acme/widgets#7'

describe('conversations', () => {
  const fixture = useTestFixture()

  it('follow-ups run in order on the node holding the session, with --resume; without it they continue elsewhere from the checkpoint', async () => {
    const mesh = await startTaskMesh(fixture.dirs, 3, i => ({ capacity: 2, runner: { env: { FAKE_CLAUDE_RECORD: fixture.dirs.dir('record.jsonl'), FAKE_CLAUDE_NODE: `node${i}`, FAKE_CLAUDE_LINES: '6', FAKE_CLAUDE_INTERVAL_MS: '100' } } }))
    fixture.nodes = mesh.nodes
    const [a, b, c] = fixture.nodes as [IdlemeshNode, IdlemeshNode, IdlemeshNode]
    // c1 is slow; c2 and c3 arrive at other nodes while it runs.
    await a.tasks.submit({ id: 'c1', prompt: 'slow first request [conv]', conversation: KEY })
    const first = await waitForStatus(a, 'c1', ['running'])
    await b.tasks.submit({ id: 'c2', prompt: 'second request [conv]', conversation: KEY })
    await c.tasks.submit({ id: 'c3', prompt: 'third request [conv]', conversation: KEY })
    await waitFor(() => b.tasks.get('c2')?.status === 'queued' && c.tasks.get('c3')?.status === 'queued', { what: 'c2 and c3 queued' })
    const done = []
    for (const id of ['c1', 'c2', 'c3']) done.push(await waitForStatus(a, id, ['succeeded', 'failed', 'dead'], 20_000))
    expect(done.map(t => t.status)).toEqual(['succeeded', 'succeeded', 'succeeded'])
    const holder = first.node as string
    expect(done.map(t => t.node)).toEqual([holder, holder, holder])
    const session = done[0]?.sessionId as string
    expect(done.map(t => t.sessionId)).toEqual([session, session, session])
    expect(done.map(t => t.attempts[0]?.resumed)).toEqual([undefined, session, session])

    const runs = runsFor(mesh.record, '[conv]')
    expect(runs.map(r => r.prompt.split(' ')[0])).toEqual(['slow', 'second', 'third'])
    expect(overlaps(runs)).toEqual([])
    expect(runs[0]?.argv).not.toContain('--resume')
    for (const run of runs.slice(1)) expect(run.argv.slice(run.argv.indexOf('--resume'), run.argv.indexOf('--resume') + 2)).toEqual(['--resume', session])
    expect(new Set(runs.map(r => r.cwd)).size).toBe(1)

    // The summary checkpoint reached the others; then the holder goes away.
    const stream = conversationStream(KEY)
    expect(stream).toBe('conversation/acme/widgets/7')
    const others = fixture.nodes.filter(n => n.peerId !== holder)
    await waitFor(async () => {
      for (const n of others) {
        const latest = await n.checkpoints.latest(stream, { local: true }).catch(() => undefined)
        const summary = latest === undefined ? undefined : JSON.parse(new TextDecoder().decode(latest.payload)) as { lastTaskId: string }
        if (summary?.lastTaskId !== 'c3') return false
      }
      return true
    }, { what: 'every other node to hold the checkpoint after c3' })
    const holderNode = fixture.nodes.find(n => n.peerId === holder) as IdlemeshNode
    await holderNode.stop()
    fixture.nodes = others

    const [x] = others as [IdlemeshNode]
    await x.tasks.submit({ id: 'c4', prompt: 'fourth request [conv]', conversation: KEY })
    const c4 = await waitForStatus(x, 'c4', ['succeeded', 'failed', 'dead'], 20_000)
    expect(c4.status).toBe('succeeded')
    expect(c4.node).not.toBe(holder)
    expect(c4.attempts[0]?.resumed).toBeUndefined()
    expect(c4.attempts[0]?.fromCheckpoint).toBeDefined()
    expect(c4.sessionId).not.toBe(session)
    const [run4] = runsFor(mesh.record, 'fourth request')
    expect(run4?.argv).not.toContain('--resume')
    // The new session starts from what happened before.
    expect(run4?.prompt).toContain('continues on another machine')
    expect(run4?.prompt).toContain('echo: third request [conv]')
    expect(run4?.prompt.trim().endsWith('fourth request [conv]')).toBe(true)

    // And the new holder resumes its own session from now on.
    await x.tasks.submit({ id: 'c5', prompt: 'fifth request [conv]', conversation: KEY })
    const c5 = await waitForStatus(x, 'c5', ['succeeded', 'failed', 'dead'], 20_000)
    expect(c5.node).toBe(c4.node)
    expect(c5.attempts[0]?.resumed).toBe(c4.sessionId)
    expect(nodeName(mesh, c5.node)).not.toBe(nodeName(mesh, holder))
  })
})
