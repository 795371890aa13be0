import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import type { Logger } from '../logger.ts'
import type { Clock, LogLine, RunResult, RunStatus } from './index.ts'
import { signalGroup } from './process-group.ts'
import { LineSplitter, TailBuffer, parseLine, resultFailure, summarizeResult, type ResultSummary } from './stream-json.ts'

export interface ProcessRunInit {
  taskId: string
  file: string
  args: string[]
  cwd: string
  env: Record<string, string>
  prompt: string
  /** Aborted by the caller or by the runner's stop(). */
  signal: AbortSignal
  onLine?: (line: LogLine) => void
  logger: Logger
  clock: Clock
  timeoutMs: number
  idleTimeoutMs: number
  exitGraceMs: number
  killGraceMs: number
  maxCaptureChars: number
  maxLineChars: number
}

type TimerName = 'wall' | 'idle' | 'exitGrace' | 'kill' | 'abandon'

/** Why the runner ended a run itself. */
interface Outcome {
  status: RunStatus
  code: string
  reason: string
}

/**
 * One spawn of the CLI, from prompt to RunResult. The process leads its own group, and every way
 * of ending early (timeout, watchdog, cancel) kills that whole group: SIGTERM, then SIGKILL after
 * killGraceMs. A result line, once read, is authoritative: a kill after it only cleans up.
 */
export class ProcessRun {
  private readonly init: ProcessRunInit
  private readonly logger: Logger
  private readonly startedAt: number
  private readonly rawOutput: TailBuffer
  private readonly stderr: TailBuffer
  private child?: ChildProcessWithoutNullStreams
  private pid?: number
  private summary?: ResultSummary
  private sessionId?: string
  private outcome?: Outcome
  private exitCode: number | null = null
  private exitSignal: NodeJS.Signals | null = null
  private rawLines = 0
  private killing = false
  private settled = false
  private resolve: (result: RunResult) => void = () => {}
  private readonly timers = new Map<TimerName, NodeJS.Timeout>()
  private readonly onAbort = (): void => {
    const reason = `cancelled: ${describeAbort(this.init.signal)}`
    this.terminate({ status: 'cancelled', code: 'RUNNER_CANCELLED', reason }, 'cancelled')
  }

  constructor (init: ProcessRunInit) {
    this.init = init
    this.logger = init.logger
    this.startedAt = init.clock.now()
    this.rawOutput = new TailBuffer(init.maxCaptureChars)
    this.stderr = new TailBuffer(init.maxCaptureChars)
  }

  async run (): Promise<RunResult> {
    const done = new Promise<RunResult>(resolve => { this.resolve = resolve })
    const { file, args, cwd, env } = this.init
    let child: ChildProcessWithoutNullStreams
    try {
      child = spawn(file, args, { cwd, env, detached: true, stdio: 'pipe' })
    } catch (err) {
      this.settleSpawnFailure(`could not start ${file}: ${(err as Error).message}`)
      return await done
    }
    this.child = child
    this.pid = child.pid

    child.on('error', (err) => {
      if (this.pid === undefined) {
        this.settleSpawnFailure(`could not start ${file}: ${err.message}`)
      } else {
        this.logger.warn({ err, taskId: this.init.taskId, pid: this.pid }, 'runner: child process error')
      }
    })
    if (this.pid === undefined) return await done

    this.logger.info({ taskId: this.init.taskId, pid: this.pid, argv: [file, ...args], cwd, envNames: Object.keys(env) }, 'runner: started')
    const stdoutLines = new LineSplitter(this.init.maxLineChars, line => this.onStdoutLine(line))
    const stderrLines = new LineSplitter(this.init.maxLineChars, line => this.onStderrLine(line))
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      this.armIdle()
      stdoutLines.push(chunk)
    })
    child.stderr.on('data', (chunk: string) => {
      this.armIdle()
      stderrLines.push(chunk)
    })
    child.stdout.on('end', () => stdoutLines.flush())
    child.stderr.on('end', () => stderrLines.flush())
    // The CLI may exit before reading its prompt; a broken pipe then is not our failure.
    child.stdin.on('error', (err) => this.logger.debug({ err, taskId: this.init.taskId }, 'runner: stdin closed early'))
    child.stdin.end(this.init.prompt)

    child.on('exit', (code, signal) => {
      this.exitCode = code
      this.exitSignal = signal
      // Exited, but something it started may still hold stdout open.
      this.armExitGrace('exit')
    })
    child.on('close', () => this.onClose())

    if (this.init.timeoutMs > 0) {
      this.timers.set('wall', setTimeout(() => {
        this.terminate({ status: 'failed', code: 'RUNNER_TIMEOUT', reason: `no result within ${this.init.timeoutMs} ms (wall-clock timeout)` }, 'timeout')
      }, this.init.timeoutMs))
    }
    this.armIdle()
    if (this.init.signal.aborted) this.onAbort()
    else this.init.signal.addEventListener('abort', this.onAbort, { once: true })
    return await done
  }

  private onStdoutLine (text: string): void {
    const message = parseLine(text)
    if (message === undefined) {
      // Not what we expected, which makes it the most telling line of the run: keep it.
      this.rawOutput.append(`${text}\n`)
      this.rawLines += 1
      this.logger.debug({ taskId: this.init.taskId, line: text }, 'runner: non-JSON output line')
    } else {
      if (typeof message.session_id === 'string') this.sessionId = message.session_id
      if (message.type === 'result' && this.summary === undefined) {
        this.summary = summarizeResult(message)
        this.clearTimer('idle')
        this.armExitGrace('result')
      }
    }
    this.emit({ taskId: this.init.taskId, stream: 'stdout', at: this.init.clock.now(), text, message })
  }

  private onStderrLine (text: string): void {
    this.stderr.append(`${text}\n`)
    this.emit({ taskId: this.init.taskId, stream: 'stderr', at: this.init.clock.now(), text })
  }

  private emit (line: LogLine): void {
    if (this.init.onLine === undefined) return
    try {
      this.init.onLine(line)
    } catch (err) {
      this.logger.warn({ err, taskId: this.init.taskId }, 'runner: onLine callback threw')
    }
  }

  private armIdle (): void {
    this.clearTimer('idle')
    if (this.init.idleTimeoutMs <= 0 || this.killing || this.summary !== undefined) return
    this.timers.set('idle', setTimeout(() => {
      this.terminate({ status: 'failed', code: 'RUNNER_WATCHDOG', reason: `no output for ${this.init.idleTimeoutMs} ms (watchdog)` }, 'idle')
    }, this.init.idleTimeoutMs))
  }

  private armExitGrace (after: 'result' | 'exit'): void {
    if (this.killing || this.timers.has('exitGrace')) return
    this.timers.set('exitGrace', setTimeout(() => {
      this.terminate(undefined, `output still open ${this.init.exitGraceMs} ms after the ${after}`)
    }, this.init.exitGraceMs))
  }

  /** Kills the process group; `outcome` says how the run ends unless a result was already read. */
  private terminate (outcome: Outcome | undefined, why: string): void {
    if (outcome !== undefined && this.outcome === undefined && this.summary === undefined) this.outcome = outcome
    if (this.killing || this.settled || this.pid === undefined) return
    this.killing = true
    for (const name of ['wall', 'idle', 'exitGrace'] as const) this.clearTimer(name)
    const pid = this.pid
    this.logger.warn({ taskId: this.init.taskId, pid, why }, 'runner: killing process group')
    signalGroup(pid, 'SIGTERM', this.logger)
    this.timers.set('kill', setTimeout(() => {
      this.logger.warn({ taskId: this.init.taskId, pid }, 'runner: process group outlived SIGTERM, sending SIGKILL')
      signalGroup(pid, 'SIGKILL', this.logger)
      // If even SIGKILL does not close the pipes (a process outside the group holds them),
      // stop waiting rather than hang the slot forever.
      this.timers.set('abandon', setTimeout(() => {
        this.logger.error({ taskId: this.init.taskId, pid }, 'runner: output still open after SIGKILL, abandoning it')
        this.child?.stdout.destroy()
        this.child?.stderr.destroy()
        this.settle()
      }, this.init.killGraceMs))
    }, this.init.killGraceMs))
  }

  private onClose (): void {
    // Whatever the CLI started in its group and left behind must not outlive the task.
    if (this.pid !== undefined) signalGroup(this.pid, 'SIGKILL', this.logger)
    this.settle()
  }

  private settle (): void {
    if (this.settled) return
    this.settled = true
    for (const name of [...this.timers.keys()]) this.clearTimer(name)
    this.init.signal.removeEventListener('abort', this.onAbort)
    const result = this.buildResult()
    const level = result.status === 'succeeded' ? 'info' : 'warn'
    this.logger[level]({
      taskId: this.init.taskId,
      pid: this.pid,
      status: result.status,
      code: result.code,
      reason: result.reason,
      exitCode: result.exitCode,
      signal: result.signal,
      sessionId: result.sessionId,
      costUsd: result.costUsd,
      numTurns: result.numTurns,
      rawLines: this.rawLines
    }, 'runner: ended')
    this.resolve(result)
  }

  private settleSpawnFailure (reason: string): void {
    this.outcome = { status: 'failed', code: 'RUNNER_SPAWN_FAILED', reason }
    this.settle()
  }

  private buildResult (): RunResult {
    const s = this.summary
    const base: RunResult = {
      status: 'failed',
      exitCode: this.exitCode,
      signal: this.exitSignal,
      startedAt: this.startedAt,
      endedAt: this.init.clock.now(),
      pid: this.pid,
      sessionId: s?.sessionId ?? this.sessionId,
      result: s?.result,
      numTurns: s?.numTurns,
      durationMs: s?.durationMs,
      costUsd: s?.costUsd,
      modelUsage: s?.modelUsage,
      subtype: s?.subtype,
      rawOutput: this.rawOutput.text(),
      stderr: this.stderr.text()
    }
    if (this.outcome !== undefined) return { ...base, ...this.outcome }
    if (s !== undefined) {
      const failure = resultFailure(s)
      return failure === undefined
        ? { ...base, status: 'succeeded' }
        : { ...base, status: 'failed', code: 'RUNNER_RESULT_ERROR', reason: failure }
    }
    const ending = this.exitSignal !== null ? `was killed by ${this.exitSignal}` : `exited with code ${String(this.exitCode)}`
    return { ...base, status: 'failed', code: 'RUNNER_NO_RESULT', reason: `the CLI ${ending} without a result line` }
  }

  private clearTimer (name: TimerName): void {
    const timer = this.timers.get(name)
    if (timer === undefined) return
    clearTimeout(timer)
    this.timers.delete(name)
  }
}

/** A person-readable reason from an aborted signal. */
export function describeAbort (signal: AbortSignal): string {
  const reason: unknown = signal.reason
  if (reason instanceof Error) return reason.message
  return typeof reason === 'string' ? reason : 'aborted'
}
