/**
 * Tasks: Claude Code work placed on the least-loaded live node of the mesh.
 *
 * A task is submitted to any node (HTTP, CLI, or a routed webhook through `submit`), which
 * becomes its coordinator: it offers the task to the member with the most room over a direct
 * protocol, holds the lease the runner renews, retries with backoff and dead-letters after
 * `maxAttempts`. Records are gossiped and merged deterministically, so any node can show any
 * task. See scheduler.ts (placement, leases, takeover), executor.ts (admission, runs, fencing),
 * model.ts (the record and its merge rule) and sessions.ts (conversations).
 */
import type { Logger } from '../logger.ts'
import type { Mesh } from '../mesh/index.ts'
import type { Membership } from '../membership/index.ts'
import type { KeyValueStore } from '../store/index.ts'
import type { Workspaces } from '../runner/index.ts'
import type { CheckpointService } from '../checkpoints/service-types.ts'
import type { CostGrouping, CostReport } from './cost.ts'
import type { TaskStatus } from './model.ts'
import type { TaskView } from './view.ts'
import type { RunnerFor } from './executor.ts'
import type { LogLineRecord } from './wire.ts'
import { TaskServiceImpl } from './service.ts'

export type { TaskView, ViewOptions } from './view.ts'
export type { TaskRecord, TaskSpec, Attempt, TaskStatus, AttemptStatus, IssueInfo } from './model.ts'
export type { CostGrouping, CostReport, CostRow } from './cost.ts'
export type { RunnerFor } from './executor.ts'
export { TASK_STATUSES, eventTaskId, conversationStream, mergeRecords, statusOf, digestOf } from './model.ts'
export { rankCandidates, rendezvous, type Candidate, type Ranked } from './placement.ts'
export { costReport, startOfUtcDay } from './cost.ts'
export { createRunnerFactory, ORPHAN_GUARD, type RunnerFactoryInit } from './runner-factory.ts'
export { taskRoutes, parseSince } from './routes.ts'
export { registerTaskMetrics } from './metrics.ts'
export { eventTaskSink, type EventTask } from './event-sink.ts'
export { TASK_TOPIC, RPC_PROTOCOL, SYNC_PROTOCOL } from './constants.ts'

export type TaskMesh = Pick<Mesh, 'peerId' | 'publish' | 'subscribe' | 'setValidator' | 'handle' | 'dialProtocol' | 'on' | 'off' | 'connectedPeers'>
export type TaskMembership = Pick<Membership, 'list' | 'on' | 'off'>
export type TaskCheckpoints = Pick<CheckpointService, 'post' | 'latest'>

export interface TaskServiceComponents {
  mesh: TaskMesh
  membership: TaskMembership
  /** Three key spaces of the node's store: records, log lines, local sessions. */
  records: KeyValueStore
  logs: KeyValueStore
  sessions: KeyValueStore
  /** Builds the runner for one task (model, turns and budget may differ per task). */
  runnerFor: RunnerFor
  workspaces: Workspaces
  /** Where conversation summaries go (stream `conversation/<key>`); without it there are none. */
  checkpoints?: TaskCheckpoints
  logger: Logger
  /** @default Date.now */
  now?: () => number
}

export interface TaskServiceInit {
  /** Tasks this node runs at once; 0 runs none (it still coordinates). @default 2 */
  capacity?: number
  /** How long a run may go without a renewal reaching its coordinator, ms. @default 20_000 */
  leaseMs?: number
  /** How long a target may take to answer an offer, ms. @default 5_000 */
  offerTimeoutMs?: number
  /** Attempts before a task is dead-lettered. @default 3 */
  maxAttempts?: number
  /** Wait before the 2nd attempt, doubling after each, ms. @default 5_000 */
  retryBackoffMs?: number
  /** Cap of that wait, ms. @default 300_000 */
  retryBackoffMaxMs?: number
  /** The runner's SIGTERM → SIGKILL grace, ms: a lapsed lease waits this much more. @default 5_000 */
  killGraceMs?: number
  /** Anti-entropy with every connected peer this often, ms. @default 30_000 */
  syncIntervalMs?: number
  /** Bound on one request to a peer (cancel, log read, sync), ms. @default 5_000 */
  requestTimeoutMs?: number
  /** Finished tasks are dropped after this long, ms. @default 7 days */
  retentionMs?: number
  /** Mesh-wide spend per UTC day, USD; tasks are refused once it is reached. */
  dailyBudgetUsd?: number
  /** `--max-budget-usd` of tasks that name none. */
  maxTaskBudgetUsd?: number
  /** After start, a coordinator missing from the member table counts as gone only after this, ms. @default 10_000 */
  startupGraceMs?: number
  /** How long a run waits for a conversation's checkpoint from peers, ms. @default 3_000 */
  checkpointTimeoutMs?: number
}

/** What a caller submits. `id` is the client's; else it derives from `event`; else it is random. */
export interface TaskSubmission {
  id?: string
  /** The event and the index (or name) of its action: the task id derives from them. */
  event?: { source: string, id: string, action: string | number }
  prompt: string
  /** Clone URL of the repository to work in. */
  repo?: string
  conversation?: string
  /** `issue-N` names the issue when `issue` does not. */
  branch?: string
  /** Cost grouping; owner/repo when absent and known. */
  stream?: string
  issue?: number | { owner?: string, repo?: string, number: number, title?: string, body?: string, comments?: Array<{ author: string, body: string }> }
  model?: string
  maxTurns?: number
  maxBudgetUsd?: number
}

/**
 * What the events module needs to start tasks from routed webhooks: submitting the same event
 * and action twice (on any node) returns the one task, marked `duplicate`.
 */
export interface TaskSink {
  submit: (task: TaskSubmission) => Promise<TaskView & { duplicate?: boolean }>
}

export interface TaskListOptions {
  status?: TaskStatus | TaskStatus[]
  conversation?: string
  node?: string
  /** @default 1000 */
  limit?: number
}

export interface TaskLogOptions {
  /** Only this attempt; else every attempt in turn. */
  attempt?: number
  /** Lines after this sequence number of the first attempt read. */
  after?: number
  /** Keep streaming until the task is final. */
  follow?: boolean
  signal?: AbortSignal
}

export interface TaskLogEntry extends LogLineRecord {
  attempt: number
  node: string
}

export interface CancelResult {
  task: TaskView
  /** False when the run had not ended yet when the wait ran out. */
  ended: boolean
}

export interface TaskHealth {
  running: number
  capacity: number
  /** Tasks this node coordinates that wait for a node with room (or a retry time). */
  queued: number
  draining: boolean
  /** Unfinished tasks this node coordinates. */
  coordinating: number
  /** Task records this node holds. */
  known: number
  byStatus: Record<TaskStatus, number>
  runningTasks: Array<{ id: string, n: number }>
  waiting: Array<{ id: string, reason: string }>
  spentTodayUsd: number
  dailyBudgetUsd?: number
  counters: Record<string, unknown>
}

export interface TaskService extends TaskSink {
  start: () => Promise<void>
  /** Kills runs here (handing them back as lost), stops gossip, flushes. Safe to call twice. */
  stop: () => Promise<void>
  get: (id: string) => TaskView | undefined
  list: (options?: TaskListOptions) => TaskView[]
  cancel: (id: string, reason?: string, options?: { waitMs?: number }) => Promise<CancelResult>
  logs: (id: string, options?: TaskLogOptions) => AsyncGenerator<TaskLogEntry>
  cost: (by?: CostGrouping, since?: number) => CostReport
  setDraining: (draining: boolean) => void
  /** The task figures of this node's load report. */
  load: () => { running: number, capacity: number, queued: number, draining: boolean }
  health: () => TaskHealth
  syncWith: (peerId: string) => Promise<number>
}

export function createTaskService (components: TaskServiceComponents, init: TaskServiceInit = {}): TaskService {
  return new TaskServiceImpl(components, init)
}
