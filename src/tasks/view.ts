import { lastAttempt, statusOf, totalCost, type Attempt, type IssueInfo, type TaskRecord, type TaskSpec, type TaskStatus } from './model.ts'
import { repoKeyOf, roundUsd } from './cost.ts'

/** A task as the HTTP API and the CLI show it. */
export interface TaskView {
  id: string
  status: TaskStatus
  prompt: string
  createdAt: number
  createdBy: string
  origin: TaskSpec['origin']
  repo?: string
  /** Cost stream: owner/repo, or what the submitter named, or `(none)`. */
  stream: string
  conversation?: string
  issue?: IssueInfo
  model?: string
  maxTurns?: number
  maxBudgetUsd?: number
  coordinator: string
  coordinatorEpoch: number
  /** Node of the latest attempt. */
  node?: string
  attemptCount: number
  attempts: Attempt[]
  /** Sum over attempts of total_cost_usd. */
  costUsd: number
  result?: string
  sessionId?: string
  code?: string
  reason?: string
  cancel?: TaskRecord['cancel']
  finishedAt?: number
  updatedAt: number
  /** Why the task waits, as its coordinator sees it (only when asked on the coordinator). */
  waiting?: string
}

export interface ViewOptions {
  /** Keep prompts, results and attempts' output whole. @default true */
  full?: boolean
  waiting?: string
}

const SHORT = 200

export function toView (record: TaskRecord, options: ViewOptions = {}): TaskView {
  const full = options.full ?? true
  const { spec } = record
  const last = lastAttempt(record)
  const succeeded = [...record.attempts].reverse().find(a => a.status === 'succeeded')
  const shown = succeeded ?? last
  const clip = (text: string | undefined): string | undefined => text === undefined || full || text.length <= SHORT ? text : `${text.slice(0, SHORT)}…`
  const attempts = full ? record.attempts : record.attempts.map(({ rawOutput: _r, stderr: _s, modelUsage: _m, result, ...rest }) => ({ ...rest, ...(result === undefined ? {} : { result: clip(result) as string }) }))
  const times = [spec.createdAt, record.coord.at, record.cancel?.at ?? 0, record.final?.at ?? 0, ...record.attempts.flatMap(a => [a.offeredAt, a.startedAt ?? 0, a.endedAt ?? 0])]
  const view: TaskView = {
    id: record.id,
    status: statusOf(record),
    prompt: clip(spec.prompt) as string,
    createdAt: spec.createdAt,
    createdBy: spec.createdBy,
    origin: spec.origin,
    stream: repoKeyOf(record),
    coordinator: record.coord.peer,
    coordinatorEpoch: record.coord.epoch,
    attemptCount: record.attempts.length,
    attempts,
    costUsd: roundUsd(totalCost(record)),
    updatedAt: Math.max(...times)
  }
  if (spec.repo !== undefined) view.repo = spec.repo
  if (spec.conversation !== undefined) view.conversation = spec.conversation
  if (spec.issue !== undefined) view.issue = full ? spec.issue : { owner: spec.issue.owner, repo: spec.issue.repo, number: spec.issue.number, ...(spec.issue.title === undefined ? {} : { title: spec.issue.title }) }
  if (spec.model !== undefined) view.model = spec.model
  if (spec.maxTurns !== undefined) view.maxTurns = spec.maxTurns
  if (spec.maxBudgetUsd !== undefined) view.maxBudgetUsd = spec.maxBudgetUsd
  if (last !== undefined) view.node = last.node
  const result = clip(shown?.result)
  if (result !== undefined) view.result = result
  if (shown?.sessionId !== undefined) view.sessionId = shown.sessionId
  const code = record.final?.code ?? (record.final?.status === 'succeeded' ? undefined : last?.code)
  const reason = record.final?.reason ?? (record.final?.status === 'succeeded' ? undefined : last?.reason)
  if (code !== undefined) view.code = code
  if (reason !== undefined) view.reason = reason
  if (record.cancel !== undefined) view.cancel = record.cancel
  if (record.final !== undefined) view.finishedAt = record.final.at
  if (options.waiting !== undefined) view.waiting = options.waiting
  return view
}
