/**
 * The real Claude Code CLI through the whole task path: submitted on one node, placed on the
 * other, run there by the runner (inside the orphan guard) against a local stub of the
 * Anthropic API, with the environment that keeps it offline (see test/runner/claude-cli.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdirSync } from 'node:fs'
import { stopAll, tempDirs, type TempDirs } from '../helpers/nodes.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { REAL_CLAUDE } from '../runner/helpers.ts'
import { startAnthropicStub, type AnthropicStub } from '../fixtures/runner/anthropic-stub.ts'
import { startTaskMesh, waitForStatus } from './helpers.ts'
import { claudeOfflineEnv } from '../fixtures/runner/claude-offline-env.ts'

const REPLY = 'Stub says: the task ran on the mesh.'

describe('tasks with the real Claude Code CLI', () => {
  let dirs: TempDirs
  let nodes: IdlemeshNode[] = []
  let stub: AnthropicStub
  beforeEach(async () => {
    dirs = tempDirs()
    stub = await startAnthropicStub({ replyText: REPLY })
  })
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    await stub.close()
    dirs.cleanup()
  })

  it('node → runner → real CLI → local stub: a result line with cost, and a follow-up that resumes the session', async () => {
    const home = dirs.dir('home')
    mkdirSync(home)
    const mesh = await startTaskMesh(dirs, 2, i => ({
      capacity: i === 0 ? 0 : 1,
      runner: {
        command: [REAL_CLAUDE, '-p', '--output-format', 'stream-json', '--verbose'],
        model: 'claude-sonnet-4-5',
        maxTurns: 3,
        allowedTools: ['Read'],
        envPassThrough: [],
        env: claudeOfflineEnv(stub.url, home),
        timeoutMs: 45_000,
        idleTimeoutMs: 30_000,
        exitGraceMs: 5000
      }
    }))
    nodes = mesh.nodes
    const [a, b] = nodes as [IdlemeshNode, IdlemeshNode]
    await a.tasks.submit({ id: 'real-1', prompt: 'Please report the mesh status.', conversation: 'ops-chat', maxBudgetUsd: 1 })
    const first = await waitForStatus(a, 'real-1', ['succeeded', 'failed', 'dead'], 50_000)
    expect(first.status, JSON.stringify(first.attempts, null, 2)).toBe('succeeded')
    expect(first.node).toBe(b.peerId)
    expect(first.result).toBe(REPLY)
    expect(first.sessionId).toMatch(/^[0-9a-f-]{36}$/)
    expect(first.costUsd).toBeGreaterThan(0)
    expect(first.attempts[0]?.subtype).toBe('success')
    expect(first.attempts[0]?.numTurns).toBe(1)
    expect(stub.promptsSeen().some(text => text.includes('Please report the mesh status.'))).toBe(true)
    const calls = stub.requests.filter(r => r.url.startsWith('/v1/messages'))
    expect(calls.some(r => (r.body as { model?: string }).model === 'claude-sonnet-4-5')).toBe(true)

    const lines = []
    for await (const line of a.tasks.logs('real-1')) lines.push(line)
    expect(lines.some(l => l.text.includes('"type":"result"'))).toBe(true)
    expect(lines.every(l => l.node === b.peerId)).toBe(true)

    await a.tasks.submit({ id: 'real-2', prompt: 'And what changed since?', conversation: 'ops-chat' })
    const second = await waitForStatus(a, 'real-2', ['succeeded', 'failed', 'dead'], 50_000)
    expect(second.status, JSON.stringify(second.attempts, null, 2)).toBe('succeeded')
    expect(second.attempts[0]?.resumed).toBe(first.sessionId)
    expect(second.sessionId).toBe(first.sessionId)
    const last = JSON.stringify(stub.requests.filter(r => r.url.startsWith('/v1/messages')).at(-1)?.body)
    expect(last).toContain('Please report the mesh status.')
    expect(last).toContain('And what changed since?')
    expect(a.tasks.cost('conversation').rows.find(r => r.key === 'ops-chat')?.costUsd).toBeCloseTo(first.costUsd + second.costUsd, 6)
    expect(stub.connectAttempts).toEqual([])
  })
})
