import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { silentLogger } from '../../src/logger.ts'
import { createRunner, type LogLine, type Runner, type RunnerInit } from '../../src/runner/index.ts'
import { FAKE_COMMAND, isAlive, makeTempDir, readRecord, waitFor, type RecordEntry } from './helpers.ts'

// Short enough to keep the suite quick, long enough for a Node child to start on a busy machine.
const IDLE_MS = 800
const EXIT_GRACE_MS = 400
const KILL_GRACE_MS = 500

let temp: { dir: string, remove: () => Promise<void> }
let workspace: string
let record: string
let runners: Runner[]

beforeEach(async () => {
  temp = await makeTempDir('runner')
  workspace = join(temp.dir, 'ws')
  await mkdir(workspace)
  record = join(temp.dir, 'record.jsonl')
  runners = []
})

afterEach(async () => {
  await Promise.all(runners.map(async r => await r.stop()))
  // Belt and braces: nothing a test started may outlive it, whatever the runner did.
  for (const entry of await readRecord(record)) {
    for (const pid of [entry.pid, entry.childPid]) {
      if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL')
    }
  }
  await temp.remove()
})

function makeRunner (init: RunnerInit = {}): Runner {
  const runner = createRunner({ logger: silentLogger() }, {
    command: FAKE_COMMAND,
    idleTimeoutMs: IDLE_MS,
    exitGraceMs: EXIT_GRACE_MS,
    killGraceMs: KILL_GRACE_MS,
    timeoutMs: 20_000,
    env: { FAKE_CLAUDE_RECORD: record },
    ...init
  })
  runners.push(runner)
  return runner
}

function starts (entries: RecordEntry[]): RecordEntry[] {
  return entries.filter(e => e.event === 'start')
}

describe('runner with the fake CLI', () => {
  it('records result, session, cost and turns of a successful run, prompt on stdin', async () => {
    const runner = makeRunner({ model: 'claude-test', maxTurns: 4, maxBudgetUsd: 0.5, allowedTools: ['Read', 'Bash(git *)'] })
    const lines: LogLine[] = []
    const result = await runner.run({ taskId: 't1', prompt: 'success: fix the bug', cwd: workspace, onLine: l => lines.push(l) })

    expect(result.status).toBe('succeeded')
    expect(result.code).toBeUndefined()
    expect(result.result).toBe('echo: success: fix the bug')
    expect(result.sessionId).toMatch(/^[0-9a-f-]{36}$/)
    expect(result.costUsd).toBe(0.0123)
    expect(result.numTurns).toBe(1)
    expect(result.durationMs).toBe(42)
    expect(result.subtype).toBe('success')
    expect(result.modelUsage).toEqual({ 'claude-test': { inputTokens: 10, outputTokens: 5, costUSD: 0.0123 } })
    expect(result.exitCode).toBe(0)
    expect(result.rawOutput).toBeUndefined()
    expect(result.endedAt).toBeGreaterThanOrEqual(result.startedAt)
    expect(lines.map(l => l.message?.type)).toEqual(['system', 'assistant', 'user', 'result'])
    expect(lines.every(l => l.taskId === 't1' && l.stream === 'stdout')).toBe(true)

    const [start] = starts(await readRecord(record))
    expect(start?.argv).toEqual(['--model', 'claude-test', '--max-turns', '4', '--max-budget-usd', '0.5', '--allowedTools', 'Read', 'Bash(git *)'])
    expect(start?.cwd).toBe(workspace)
    expect(start?.pid).toBe(result.pid)
  })

  it('fails a run whose result line says is_error, with the reason', async () => {
    const result = await makeRunner().run({ taskId: 't', prompt: 'error', cwd: workspace })
    expect(result.status).toBe('failed')
    expect(result.code).toBe('RUNNER_RESULT_ERROR')
    expect(result.reason).toContain('error_during_execution')
    expect(result.reason).toContain('the tool failed badly')
    expect(result.subtype).toBe('error_during_execution')
    expect(result.costUsd).toBe(0.0123)
    expect(result.exitCode).toBe(1)
  })

  it('fails a run whose result subtype is not success even without is_error', async () => {
    const result = await makeRunner().run({ taskId: 't', prompt: 'max-turns', cwd: workspace })
    expect(result.status).toBe('failed')
    expect(result.code).toBe('RUNNER_RESULT_ERROR')
    expect(result.reason).toContain('error_max_turns')
    expect(result.numTurns).toBe(3)
  })

  it('kills the whole process group of a silent run (watchdog)', async () => {
    const runner = makeRunner()
    const result = await runner.run({ taskId: 't', prompt: 'hang', cwd: workspace })
    const elapsed = result.endedAt - result.startedAt

    expect(result.status).toBe('failed')
    expect(result.code).toBe('RUNNER_WATCHDOG')
    expect(result.reason).toContain(`${IDLE_MS} ms`)
    expect(result.sessionId).toBeDefined() // from the init line, so the session can be resumed
    expect(elapsed).toBeGreaterThanOrEqual(IDLE_MS)
    expect(elapsed).toBeLessThan(IDLE_MS + KILL_GRACE_MS + 3_000)
    const entries = await readRecord(record)
    const grandchild = entries.find(e => e.event === 'grandchild')?.childPid
    expect(grandchild).toBeDefined()
    await waitFor(() => !isAlive(result.pid as number) && !isAlive(grandchild as number), 2_000, 'the group to be gone')
    expect(entries.some(e => e.event === 'end' && e.how === 'SIGTERM')).toBe(true)
    expect(runner.running).toBe(0)
  })

  it('escalates to SIGKILL when the group ignores SIGTERM', async () => {
    const result = await makeRunner().run({ taskId: 't', prompt: 'hang', cwd: workspace, env: { FAKE_CLAUDE_IGNORE_TERM: '1' } })
    expect(result.code).toBe('RUNNER_WATCHDOG')
    expect(result.signal).toBe('SIGKILL')
    expect(result.endedAt - result.startedAt).toBeGreaterThanOrEqual(IDLE_MS + KILL_GRACE_MS)
    expect((await readRecord(record)).some(e => e.event === 'ignored')).toBe(true)
    expect(isAlive(result.pid as number)).toBe(false)
  })

  it('kills a run that keeps its output open after the result, and keeps its success', async () => {
    const result = await makeRunner().run({ taskId: 't', prompt: 'linger', cwd: workspace })
    const elapsed = result.endedAt - result.startedAt
    expect(result.status).toBe('succeeded')
    expect(result.result).toBe('echo: linger')
    expect(result.costUsd).toBe(0.0123)
    expect(elapsed).toBeGreaterThanOrEqual(EXIT_GRACE_MS)
    expect(elapsed).toBeLessThan(IDLE_MS) // the exit grace, not the idle watchdog, ended it
    expect((await readRecord(record)).some(e => e.event === 'end' && e.how === 'SIGTERM')).toBe(true)
    expect(isAlive(result.pid as number)).toBe(false)
  })

  it('keeps lines that are not stream-json, raw, in the result and the log', async () => {
    const lines: LogLine[] = []
    const result = await makeRunner().run({ taskId: 't', prompt: 'garbage', cwd: workspace, onLine: l => lines.push(l) })
    expect(result.status).toBe('succeeded')
    expect(result.result).toBe('echo: garbage')
    expect(result.rawOutput).toBe('Warning: something odd happened\n{"type": "assistant", truncated\n42\nplain text in the middle\n')
    expect(lines.filter(l => l.message === undefined).map(l => l.text)).toEqual([
      'Warning: something odd happened', '{"type": "assistant", truncated', '42', 'plain text in the middle'
    ])
    expect(lines).toHaveLength(7)
  })

  it('fails a run that ends without a result line and keeps its raw output', async () => {
    const result = await makeRunner().run({ taskId: 't', prompt: 'no-result', cwd: workspace })
    expect(result.status).toBe('failed')
    expect(result.code).toBe('RUNNER_NO_RESULT')
    expect(result.reason).toContain('exited with code 0')
    expect(result.rawOutput).toBe('fatal: lost connection\n')
    expect(result.sessionId).toBeDefined()
  })

  it('fails a crash with its exit code and stderr', async () => {
    const lines: LogLine[] = []
    const result = await makeRunner().run({ taskId: 't', prompt: 'crash', cwd: workspace, onLine: l => lines.push(l) })
    expect(result.status).toBe('failed')
    expect(result.code).toBe('RUNNER_NO_RESULT')
    expect(result.exitCode).toBe(3)
    expect(result.stderr).toBe('fake claude: simulated crash\n')
    expect(lines).toEqual([expect.objectContaining({ stream: 'stderr', text: 'fake claude: simulated crash' })])
  })

  it('ends a run that outlives its wall-clock timeout, even while it keeps printing', async () => {
    const runner = makeRunner({ timeoutMs: 700 })
    const result = await runner.run({ taskId: 't', prompt: 'slow', cwd: workspace, env: { FAKE_CLAUDE_LINES: '100', FAKE_CLAUDE_INTERVAL_MS: '100' } })
    expect(result.status).toBe('failed')
    expect(result.code).toBe('RUNNER_TIMEOUT')
    expect(result.endedAt - result.startedAt).toBeLessThan(700 + KILL_GRACE_MS + 3_000)
    expect(isAlive(result.pid as number)).toBe(false)
  })

  it('cancels a running run through its AbortSignal and kills it', async () => {
    const controller = new AbortController()
    const result = await makeRunner({ idleTimeoutMs: 0 }).run({
      taskId: 't',
      prompt: 'hang',
      cwd: workspace,
      signal: controller.signal,
      onLine: (l) => { if (l.message?.type === 'system') controller.abort(new Error('operator said stop')) }
    })
    expect(result.status).toBe('cancelled')
    expect(result.code).toBe('RUNNER_CANCELLED')
    expect(result.reason).toContain('operator said stop')
    const grandchild = (await readRecord(record)).find(e => e.event === 'grandchild')?.childPid
    await waitFor(() => !isAlive(result.pid as number) && (grandchild === undefined || !isAlive(grandchild)), 2_000, 'the group to be gone')
  })

  it('never runs more than `concurrency` at once', async () => {
    const runner = makeRunner({ concurrency: 2 })
    let maxRunning = 0
    const watch = setInterval(() => { maxRunning = Math.max(maxRunning, runner.running) }, 5)
    const env = { FAKE_CLAUDE_LINES: '3', FAKE_CLAUDE_INTERVAL_MS: '150' }
    const runs = ['a', 'b', 'c', 'd', 'e'].map(async id => await runner.run({ taskId: id, prompt: `slow ${id}`, cwd: workspace, env }))
    expect(runner.capacity).toBe(2)
    expect(runner.waiting).toBe(3)
    const results = await Promise.all(runs)
    clearInterval(watch)

    expect(results.every(r => r.status === 'succeeded')).toBe(true)
    expect(maxRunning).toBe(2)
    const entries = await readRecord(record)
    const spans = starts(entries).map(s => ({
      id: s.prompt?.split(' ')[1],
      start: s.at,
      end: entries.find(e => e.event === 'end' && e.pid === s.pid)?.at as number
    }))
    expect(spans.map(s => s.id).sort()).toEqual(['a', 'b', 'c', 'd', 'e'])
    for (const span of spans) {
      const overlapping = spans.filter(o => o.start <= span.start && o.end > span.start)
      expect(overlapping.length).toBeLessThanOrEqual(2)
    }
  })

  it('serves waiting runs in the order they were asked for', async () => {
    const runner = makeRunner({ concurrency: 1 })
    const ids = ['a', 'b', 'c', 'd']
    await Promise.all(ids.map(async id => await runner.run({ taskId: id, prompt: `success ${id}`, cwd: workspace })))
    expect(starts(await readRecord(record)).map(s => s.prompt)).toEqual(ids.map(id => `success ${id}`))
  })

  it('cancels a queued run without ever starting it', async () => {
    const runner = makeRunner({ concurrency: 1, idleTimeoutMs: 0 })
    let started = false
    const first = runner.run({ taskId: 'busy', prompt: 'hang', cwd: workspace, onLine: () => { started = true } })
    const controller = new AbortController()
    const queued = runner.run({ taskId: 'queued', prompt: 'success', cwd: workspace, signal: controller.signal })
    expect(runner.waiting).toBe(1)
    controller.abort()
    const result = await queued
    expect(result.status).toBe('cancelled')
    expect(result.pid).toBeUndefined()
    expect(runner.waiting).toBe(0)
    await waitFor(() => started, 5_000, 'the first run to start')
    await runner.stop()
    expect((await first).status).toBe('cancelled')
    expect(starts(await readRecord(record)).map(s => s.mode)).toEqual(['hang'])
  })

  it('refuses a run when full if asked to', async () => {
    const runner = makeRunner({ concurrency: 1, whenFull: 'refuse', idleTimeoutMs: 0 })
    const first = runner.run({ taskId: 'busy', prompt: 'hang', cwd: workspace })
    await expect(runner.run({ taskId: 'more', prompt: 'success', cwd: workspace })).rejects.toMatchObject({ code: 'RUNNER_FULL' })
    expect(runner.running).toBe(1)
    await runner.stop()
    expect((await first).reason).toContain('runner stopped')
    await expect(runner.run({ taskId: 'late', prompt: 'success', cwd: workspace })).rejects.toMatchObject({ code: 'RUNNER_STOPPED' })
  })

  it('resumes a session with --resume <id> in the same workspace', async () => {
    const runner = makeRunner()
    const first = await runner.run({ taskId: 't', prompt: 'success first', cwd: workspace })
    const second = await runner.run({ taskId: 't', prompt: 'success follow-up', cwd: workspace, resumeSessionId: first.sessionId })
    expect(second.status).toBe('succeeded')
    expect(second.sessionId).toBe(first.sessionId)
    const [a, b] = starts(await readRecord(record))
    expect(a?.argv).not.toContain('--resume')
    expect(b?.argv).toEqual(['--resume', first.sessionId])
    expect(b?.cwd).toBe(a?.cwd)
  })

  it('refuses a session id that the CLI would read as a flag', async () => {
    await expect(makeRunner().run({ taskId: 't', prompt: 'success', cwd: workspace, resumeSessionId: '--dangerously-skip-permissions' }))
      .rejects.toMatchObject({ code: 'RUNNER_INVALID' })
  })

  it('passes only PATH, HOME, LANG, the allowed variables and explicit extras to the child', async () => {
    const saved = { ...process.env }
    process.env.ANTHROPIC_API_KEY = 'sk-test-dummy'
    process.env.IDLEMESH_MESH_SECRET = 'must-not-leak'
    process.env.GH_TOKEN = 'must-not-leak-either'
    try {
      await makeRunner().run({ taskId: 't', prompt: 'success', cwd: workspace, env: { EXTRA_FOR_THIS_RUN: 'yes' } })
    } finally {
      process.env = saved
    }
    const env = starts(await readRecord(record))[0]?.env ?? {}
    const allowed = ['PATH', 'HOME', 'LANG', 'ANTHROPIC_API_KEY', 'FAKE_CLAUDE_RECORD', 'EXTRA_FOR_THIS_RUN']
    expect(Object.keys(env).filter(name => !allowed.includes(name))).toEqual([])
    expect(env.ANTHROPIC_API_KEY).toBe('sk-test-dummy')
    expect(env.EXTRA_FOR_THIS_RUN).toBe('yes')
    expect(env.PATH).toBe(saved.PATH)
  })

  it('refuses a configuration that would pass flags in disguise or run nothing', () => {
    for (const init of [{ command: [] }, { concurrency: 0 }, { allowedTools: ['--dangerously-skip-permissions'] }, { model: '-x' }, { maxTurns: 1.5 }]) {
      expect(() => createRunner({ logger: silentLogger() }, init)).toThrow(expect.objectContaining({ code: 'RUNNER_INVALID' }))
    }
  })

  it('fails with RUNNER_SPAWN_FAILED when the CLI or the workspace is missing', async () => {
    const missingCli = await makeRunner({ command: [join(temp.dir, 'no-such-claude')] }).run({ taskId: 't', prompt: 'x', cwd: workspace })
    expect(missingCli).toMatchObject({ status: 'failed', code: 'RUNNER_SPAWN_FAILED' })
    expect(missingCli.reason).toContain('ENOENT')
    const missingDir = await makeRunner().run({ taskId: 't', prompt: 'x', cwd: join(temp.dir, 'nowhere') })
    expect(missingDir).toMatchObject({ status: 'failed', code: 'RUNNER_SPAWN_FAILED' })
    expect(missingDir.reason).toContain('nowhere')
  })
})
