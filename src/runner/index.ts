/**
 * The runner: runs the Claude Code CLI headless for one task at a time per slot, in a workspace
 * directory, and turns its stream-json output into a RunResult. It never throws for what the
 * CLI did (crash, error result, timeout): those are failed results with a stable code. It throws
 * only for requests it cannot accept (full, stopped, invalid).
 */
import type { Logger } from '../logger.ts'
import type { StreamMessage } from './stream-json.ts'
import { ClaudeCodeRunner } from './runner.ts'

export type { StreamMessage } from './stream-json.ts'
export { DEFAULT_COMMAND, DEFAULT_ENV_PASS_THROUGH } from './constants.ts'
export { createWorkspaces, renderArgv } from './workspace.ts'
export type { Workspaces, WorkspacesInit, WorkspacesComponents, Workspace, IssueRef, PublishResult } from './workspace.ts'

export interface Clock {
  /** Milliseconds since the epoch. */
  now: () => number
}

export interface RunnerComponents {
  logger: Logger
  /** @default Date */
  clock?: Clock
}

export interface RunnerInit {
  /** argv of the CLI; the first element is the executable. @default DEFAULT_COMMAND */
  command?: string[]
  /** Passed as `--model`. */
  model?: string
  /** Passed as `--max-turns`. */
  maxTurns?: number
  /** Passed as `--allowedTools a b …`. */
  allowedTools?: string[]
  /** Passed as `--max-budget-usd` (Claude Code ≥ 2.1 accepts it with `-p`). */
  maxBudgetUsd?: number
  /**
   * Names of variables copied from this process's environment, besides PATH, HOME and LANG.
   * Nothing else reaches the child. @default DEFAULT_ENV_PASS_THROUGH
   */
  envPassThrough?: string[]
  /** Set in every child's environment, on top of what is passed through. */
  env?: Record<string, string>
  /** Wall-clock limit of one run, in ms; 0 disables. @default 1_800_000 (30 min) */
  timeoutMs?: number
  /** Watchdog: kill a run that printed nothing for this many ms; 0 disables. @default 600_000 (10 min) */
  idleTimeoutMs?: number
  /** Watchdog: kill a run whose output is still open this many ms after its result line or its exit. @default 10_000 */
  exitGraceMs?: number
  /** Between SIGTERM and SIGKILL to the process group, in ms. @default 5_000 */
  killGraceMs?: number
  /** Runs at once. @default 1 */
  concurrency?: number
  /** When every slot is busy: queue the run (FIFO) or refuse it with RUNNER_FULL. @default 'wait' */
  whenFull?: 'wait' | 'refuse'
  /** Characters kept of raw stdout and, separately, of stderr (the last ones). @default 1_048_576 */
  maxCaptureChars?: number
}

export interface LogLine {
  taskId: string
  stream: 'stdout' | 'stderr'
  /** Milliseconds since the epoch, from the clock. */
  at: number
  /** The line exactly as printed, without its newline. */
  text: string
  /** Set when the line is a stream-json message. */
  message?: StreamMessage
}

export interface RunRequest {
  taskId: string
  prompt: string
  /** The workspace directory; it must exist. */
  cwd: string
  /** Resume this Claude Code session (`--resume <id>`). */
  resumeSessionId?: string
  /** Aborting cancels the run: a waiting run never starts, a running one has its group killed. */
  signal?: AbortSignal
  /** Every output line, stdout and stderr, as it arrives. */
  onLine?: (line: LogLine) => void
  /** Extra variables for this run only. */
  env?: Record<string, string>
}

export type RunStatus = 'succeeded' | 'failed' | 'cancelled'

export interface RunResult extends RunReport {
  status: RunStatus
  /** Why it failed or was cancelled. */
  reason?: string
  /** RUNNER_TIMEOUT, RUNNER_WATCHDOG, RUNNER_SPAWN_FAILED, RUNNER_CANCELLED, RUNNER_RESULT_ERROR, RUNNER_NO_RESULT. */
  code?: string
  /** null when the process was ended by a signal or never started. */
  exitCode: number | null
  signal: NodeJS.Signals | null
  startedAt: number
  endedAt: number
  pid?: number
  /** From the result line, else from the init line (so a timed-out run can still be resumed). */
  sessionId?: string
}

/** What a Claude Code run reported: kept in the runner's result and in a task's attempt. */
export interface RunReport {
  result?: string
  numTurns?: number
  durationMs?: number
  costUsd?: number
  modelUsage?: Record<string, unknown>
  subtype?: string
  /** stdout lines that were not stream-json messages, the last maxCaptureChars of them. */
  rawOutput?: string
  /** The last maxCaptureChars of stderr. */
  stderr?: string
}

export interface Runner {
  run: (request: RunRequest) => Promise<RunResult>
  /** Runs holding a slot now. */
  readonly running: number
  /** Runs queued for a slot. */
  readonly waiting: number
  readonly capacity: number
  /** Cancels every waiting and running run and resolves once all have ended; safe to call twice. */
  stop: () => Promise<void>
}

export function createRunner (components: RunnerComponents, init: RunnerInit = {}): Runner {
  return new ClaudeCodeRunner(components, init)
}
