import { stat } from 'node:fs/promises'
import { IdlemeshError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Clock, RunRequest, RunResult, Runner, RunnerComponents, RunnerInit } from './index.ts'
import {
  BASE_ENV, CONCURRENCY, DEFAULT_COMMAND, DEFAULT_ENV_PASS_THROUGH, EXIT_GRACE_MS, IDLE_TIMEOUT_MS,
  KILL_GRACE_MS, MAX_CAPTURE_CHARS, MAX_LINE_CHARS, TIMEOUT_MS
} from './constants.ts'
import { ProcessRun, describeAbort } from './process-run.ts'
import { Slots } from './slots.ts'

// Values that become the argument after a flag: one starting with '-' would be read by the CLI
// as a flag of its own (`--resume --dangerously-skip-permissions`).
const SAFE_VALUE = /^[A-Za-z0-9][A-Za-z0-9._:@/[\]-]*$/

/** RunnerInit with every default applied; the three CLI limits stay optional (no flag when unset). */
type ResolvedInit = Required<Omit<RunnerInit, 'model' | 'maxTurns' | 'maxBudgetUsd'>> & Pick<RunnerInit, 'model' | 'maxTurns' | 'maxBudgetUsd'>

export class ClaudeCodeRunner implements Runner {
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly init: ResolvedInit
  private readonly executable: string
  private readonly slots: Slots
  private readonly active = new Map<AbortController, Promise<RunResult>>()
  private stopping?: Promise<void>

  constructor (components: RunnerComponents, init: RunnerInit) {
    this.logger = components.logger
    this.clock = components.clock ?? Date
    this.init = {
      command: init.command ?? DEFAULT_COMMAND,
      model: init.model,
      maxTurns: init.maxTurns,
      allowedTools: init.allowedTools ?? [],
      maxBudgetUsd: init.maxBudgetUsd,
      envPassThrough: init.envPassThrough ?? DEFAULT_ENV_PASS_THROUGH,
      env: init.env ?? {},
      timeoutMs: init.timeoutMs ?? TIMEOUT_MS,
      idleTimeoutMs: init.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
      exitGraceMs: init.exitGraceMs ?? EXIT_GRACE_MS,
      killGraceMs: init.killGraceMs ?? KILL_GRACE_MS,
      concurrency: init.concurrency ?? CONCURRENCY,
      whenFull: init.whenFull ?? 'wait',
      maxCaptureChars: init.maxCaptureChars ?? MAX_CAPTURE_CHARS
    }
    const { command, concurrency, model, maxTurns, maxBudgetUsd, allowedTools } = this.init
    const executable = command[0]
    if (executable === undefined || executable === '') throw invalid('command must name an executable')
    this.executable = executable
    if (!Number.isInteger(concurrency) || concurrency < 1) throw invalid(`concurrency must be a positive integer, got ${concurrency}`)
    if (model !== undefined && !SAFE_VALUE.test(model)) throw invalid(`model ${JSON.stringify(model)} is not a model name`)
    if (maxTurns !== undefined && (!Number.isInteger(maxTurns) || maxTurns < 1)) throw invalid(`maxTurns must be a positive integer, got ${maxTurns}`)
    if (maxBudgetUsd !== undefined && !(maxBudgetUsd > 0)) throw invalid(`maxBudgetUsd must be above 0, got ${maxBudgetUsd}`)
    for (const tool of allowedTools) {
      if (tool === '' || tool.startsWith('-')) throw invalid(`allowedTools entry ${JSON.stringify(tool)} is not a tool name`)
    }
    this.slots = new Slots(concurrency)
  }

  get running (): number {
    return this.slots.running
  }

  get waiting (): number {
    return this.slots.waiting
  }

  get capacity (): number {
    return this.slots.capacity
  }

  async run (request: RunRequest): Promise<RunResult> {
    if (this.stopping !== undefined) throw new IdlemeshError('RUNNER_STOPPED', 'the runner is stopped and takes no more runs', { status: 503 })
    if (request.resumeSessionId !== undefined && !SAFE_VALUE.test(request.resumeSessionId)) {
      throw invalid(`resumeSessionId ${JSON.stringify(request.resumeSessionId)} is not a session id`)
    }
    if (this.init.whenFull === 'refuse' && !this.slots.tryAcquire()) {
      throw new IdlemeshError('RUNNER_FULL', `all ${this.capacity} runner slots are busy`, { status: 503 })
    }
    const holdsSlot = this.init.whenFull === 'refuse'
    const controller = new AbortController()
    const forward = (): void => controller.abort(request.signal?.reason)
    if (request.signal?.aborted === true) forward()
    else request.signal?.addEventListener('abort', forward, { once: true })
    const running = this.execute(request, controller.signal, holdsSlot)
    this.active.set(controller, running)
    try {
      return await running
    } finally {
      this.active.delete(controller)
      request.signal?.removeEventListener('abort', forward)
    }
  }

  async stop (): Promise<void> {
    if (this.stopping !== undefined) return await this.stopping
    this.stopping = (async () => {
      for (const controller of this.active.keys()) controller.abort(new Error('runner stopped'))
      await Promise.allSettled(this.active.values())
    })()
    return await this.stopping
  }

  private async execute (request: RunRequest, signal: AbortSignal, holdsSlot: boolean): Promise<RunResult> {
    const queuedAt = this.clock.now()
    if (!holdsSlot) {
      try {
        await this.slots.acquire(signal)
      } catch {
        return this.cancelledBeforeStart(request, queuedAt, signal)
      }
    }
    try {
      if (signal.aborted) return this.cancelledBeforeStart(request, queuedAt, signal)
      const problem = await checkDirectory(request.cwd)
      if (problem !== undefined) {
        const now = this.clock.now()
        return { status: 'failed', code: 'RUNNER_SPAWN_FAILED', reason: problem, exitCode: null, signal: null, startedAt: now, endedAt: now }
      }
      return await new ProcessRun({
        taskId: request.taskId,
        file: this.executable,
        args: this.args(request),
        cwd: request.cwd,
        env: this.env(request),
        prompt: request.prompt,
        signal,
        onLine: request.onLine,
        logger: this.logger,
        clock: this.clock,
        timeoutMs: this.init.timeoutMs,
        idleTimeoutMs: this.init.idleTimeoutMs,
        exitGraceMs: this.init.exitGraceMs,
        killGraceMs: this.init.killGraceMs,
        maxCaptureChars: this.init.maxCaptureChars,
        maxLineChars: MAX_LINE_CHARS
      }).run()
    } finally {
      this.slots.release()
    }
  }

  private args (request: RunRequest): string[] {
    const { command, model, maxTurns, maxBudgetUsd, allowedTools } = this.init
    const argv = command.slice(1)
    if (model !== undefined) argv.push('--model', model)
    if (maxTurns !== undefined) argv.push('--max-turns', String(maxTurns))
    if (maxBudgetUsd !== undefined) argv.push('--max-budget-usd', String(maxBudgetUsd))
    if (request.resumeSessionId !== undefined) argv.push('--resume', request.resumeSessionId)
    // Last, because the CLI reads every following word as one more tool.
    if (allowedTools.length > 0) argv.push('--allowedTools', ...allowedTools)
    return argv
  }

  private env (request: RunRequest): Record<string, string> {
    const env: Record<string, string> = {}
    for (const name of [...BASE_ENV, ...this.init.envPassThrough]) {
      const value = process.env[name]
      if (value !== undefined) env[name] = value
    }
    return { ...env, ...this.init.env, ...request.env }
  }

  private cancelledBeforeStart (request: RunRequest, queuedAt: number, signal: AbortSignal): RunResult {
    const reason = describeAbort(signal)
    this.logger.info({ taskId: request.taskId }, 'runner: cancelled before it started')
    return {
      status: 'cancelled',
      code: 'RUNNER_CANCELLED',
      reason: `cancelled before start: ${reason}`,
      exitCode: null,
      signal: null,
      startedAt: queuedAt,
      endedAt: this.clock.now()
    }
  }
}

function invalid (message: string): IdlemeshError {
  return new IdlemeshError('RUNNER_INVALID', message, { status: 400 })
}

async function checkDirectory (dir: string): Promise<string | undefined> {
  try {
    const info = await stat(dir)
    return info.isDirectory() ? undefined : `workspace ${dir} is not a directory`
  } catch (err) {
    return `workspace ${dir} is not accessible: ${(err as Error).message}`
  }
}
