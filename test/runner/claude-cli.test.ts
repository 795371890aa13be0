/**
 * The real Claude Code CLI (the devDependency), run through the runner against a local stub of
 * the Anthropic API. The environment below is what keeps it offline: the base URL points at the
 * stub, the DISABLE_* switches turn off telemetry, error reports, update checks and other
 * non-essential traffic, HOME is a fresh directory, and HTTPS_PROXY points at the stub too, which
 * refuses and records any tunnel, so an attempt to reach anything else shows up in the test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { silentLogger } from '../../src/logger.ts'
import { createRunner, type LogLine, type Runner } from '../../src/runner/index.ts'
import { startAnthropicStub, type AnthropicStub } from '../fixtures/runner/anthropic-stub.ts'
import { REAL_CLAUDE, makeTempDir } from './helpers.ts'
import { claudeOfflineEnv } from '../fixtures/runner/claude-offline-env.ts'

const REPLY = 'Stub says: the mesh is healthy.'

let temp: { dir: string, remove: () => Promise<void> }
let stub: AnthropicStub
let runner: Runner | undefined

beforeEach(async () => {
  temp = await makeTempDir('claude-cli')
  stub = await startAnthropicStub({ replyText: REPLY })
})

afterEach(async () => {
  await runner?.stop()
  await stub.close()
  await temp.remove()
})

function offlineEnv (home: string): Record<string, string> {
  return claudeOfflineEnv(stub.url, home)
}

describe('runner with the real Claude Code CLI', () => {
  it('runs headless against the stub, returns its text, and resumes the session', async () => {
    const home = join(temp.dir, 'home')
    const workspace = join(temp.dir, 'workspace')
    await mkdir(home)
    await mkdir(workspace)
    runner = createRunner({ logger: silentLogger() }, {
      command: [REAL_CLAUDE, '-p', '--output-format', 'stream-json', '--verbose'],
      model: 'claude-sonnet-4-5',
      maxTurns: 3,
      maxBudgetUsd: 1,
      allowedTools: ['Read'],
      // Nothing from the test process's environment: only what offlineEnv sets, plus PATH and LANG.
      envPassThrough: [],
      env: offlineEnv(home),
      timeoutMs: 45_000,
      idleTimeoutMs: 30_000,
      exitGraceMs: 5_000
    })

    const lines: LogLine[] = []
    const first = await runner.run({ taskId: 'real-1', prompt: 'Please report the mesh status.', cwd: workspace, onLine: l => lines.push(l) })
    expect(first.status, `${first.reason ?? ''}\n${first.stderr ?? ''}\n${first.rawOutput ?? ''}`).toBe('succeeded')
    expect(first.result).toBe(REPLY)
    expect(first.subtype).toBe('success')
    expect(first.sessionId).toMatch(/^[0-9a-f-]{36}$/)
    expect(first.numTurns).toBe(1)
    expect(first.costUsd).toBeGreaterThan(0)
    expect(first.modelUsage).toBeDefined()
    expect(first.exitCode).toBe(0)
    const init = lines.find(l => l.message?.type === 'system')?.message
    expect(init).toMatchObject({ subtype: 'init', cwd: workspace, session_id: first.sessionId })
    expect(stub.promptsSeen().some(text => text.includes('Please report the mesh status.'))).toBe(true)
    const calls = stub.requests.filter(r => r.url.startsWith('/v1/messages'))
    expect(calls.length).toBeGreaterThan(0)
    expect(calls.every(r => r.headers['x-api-key'] === 'sk-ant-test-dummy')).toBe(true)
    expect(calls.some(r => (r.body as { model?: string }).model === 'claude-sonnet-4-5')).toBe(true)

    const second = await runner.run({ taskId: 'real-1', prompt: 'And what changed since?', cwd: workspace, resumeSessionId: first.sessionId })
    expect(second.status, second.reason).toBe('succeeded')
    expect(second.sessionId).toBe(first.sessionId)
    // The resumed conversation carries the first exchange to the API.
    const last = stub.requests.filter(r => r.url.startsWith('/v1/messages')).at(-1)
    const sent = JSON.stringify(last?.body)
    expect(sent).toContain('Please report the mesh status.')
    expect(sent).toContain(REPLY)
    expect(sent).toContain('And what changed since?')

    expect(stub.connectAttempts).toEqual([])
  })

  it('fails the run when the CLI reports an API error (subtype success, is_error true)', async () => {
    await stub.close()
    stub = await startAnthropicStub({ fail: { status: 400, type: 'invalid_request_error', message: 'stub refuses this request' } })
    const home = join(temp.dir, 'home')
    const workspace = join(temp.dir, 'workspace')
    await mkdir(home)
    await mkdir(workspace)
    runner = createRunner({ logger: silentLogger() }, {
      command: [REAL_CLAUDE, '-p', '--output-format', 'stream-json', '--verbose'],
      envPassThrough: [],
      env: offlineEnv(home),
      timeoutMs: 45_000
    })
    const result = await runner.run({ taskId: 'real-2', prompt: 'This will be refused.', cwd: workspace })
    expect(result.status).toBe('failed')
    expect(result.code).toBe('RUNNER_RESULT_ERROR')
    expect(result.subtype).toBe('success')
    expect(result.reason).toContain('stub refuses this request')
    expect(result.exitCode).toBe(1)
    expect(stub.connectAttempts).toEqual([])
  })
})
