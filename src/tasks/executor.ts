/**
 * The runner's side of tasks: admission of offers (the node's capacity is enforced here, so no
 * coordinator can overfill it), running the Claude Code CLI in the task's workspace, keeping the
 * lease alive, and giving a run up — killing its process group — as soon as it loses the lease,
 * is cancelled, or its attempt is fenced by a newer one.
 */
import { IdlemeshError, isIdlemeshError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { RunResult, Runner, Workspace, Workspaces } from '../runner/index.ts'
import type { TaskCheckpoints } from './index.ts'
import type { TaskContext } from './context.ts'
import { successorOf } from './context.ts'
import { spentToday } from './cost.ts'
import { conversationHolder } from './scheduler.ts'
import { composePrompt, conversationWorkspaceId, parseSummary, summarise, type ConversationSummary } from './sessions.ts'
import {
  compact, conversationStream, findAttempt, head, lastAttempt, parseConversationIssue, tail, withAttempt,
  type Attempt, type TaskRecord, type TaskSpec
} from './model.ts'
import { MAX_RESULT_CHARS, MAX_TAIL_CHARS, RENEWALS_PER_LEASE, WIRE_VERSION } from './constants.ts'
import type { LeaseResponse, OfferRequest, OfferResponse, RpcRequest, RpcResponse } from './wire.ts'
import { parseRecord } from './wire.ts'

export type RunnerFor = (spec: TaskSpec) => Runner

export interface ExecutorDeps {
  runnerFor: RunnerFor
  workspaces: Workspaces
  checkpoints?: TaskCheckpoints
  renewLocal: (leases: Array<{ id: string, n: number }>) => LeaseResponse
  call: (peerId: string, request: RpcRequest, timeoutMs: number) => Promise<RpcResponse>
  /** Called when a run ends (a slot is free again). */
  onSlotFreed: () => void
}

type StopKind = 'cancel' | 'lease' | 'revoked' | 'stopping'

interface ActiveRun {
  id: string
  n: number
  conversation?: string
  controller: AbortController
  stopKind?: StopKind
  stopReason?: string
  /** Our clock, ms: the run is killed once this passes without an acknowledged renewal. */
  leaseUntil: number
  /** Fires at leaseUntil: the kill must not wait for the next renewal round. */
  leaseTimer?: NodeJS.Timeout
  /** Where renewals go: the coordinator, or who it redirected us to. */
  target: string
  attempt: Attempt
  /** Set once the outcome is written: later changes to the record no longer concern the run. */
  settled: boolean
  done: Promise<void>
}

export interface ExecutorCounters {
  accepted: number
  refused: Record<string, number>
  succeeded: number
  failed: number
  cancelled: number
  leasesLost: number
  revoked: number
}

export class Executor {
  readonly counters: ExecutorCounters = { accepted: 0, refused: {}, succeeded: 0, failed: 0, cancelled: 0, leasesLost: 0, revoked: 0 }
  draining = false
  private stopping = false
  private readonly ctx: TaskContext
  private readonly deps: ExecutorDeps
  private readonly log: Logger
  private readonly runs = new Map<string, ActiveRun>()
  private timer?: NodeJS.Timeout
  private readonly onChange = (record: TaskRecord): void => { this.check(record) }

  constructor (ctx: TaskContext, deps: ExecutorDeps) {
    this.ctx = ctx
    this.deps = deps
    this.log = ctx.logger
  }

  start (): void {
    this.ctx.store.on('change', this.onChange)
    this.timer = setInterval(() => { void this.renewAll() }, Math.max(20, Math.floor(this.ctx.init.leaseMs / RENEWALS_PER_LEASE)))
    this.timer.unref()
  }

  /** Kills every run (their attempts are handed back as lost) and waits for them to end. */
  async stop (): Promise<void> {
    this.stopping = true
    clearInterval(this.timer)
    this.ctx.store.off('change', this.onChange)
    for (const run of this.runs.values()) this.abort(run, 'stopping', 'the node is stopping')
    await Promise.allSettled([...this.runs.values()].map(async r => await r.done))
  }

  get running (): number {
    return this.runs.size
  }

  /** Ids and attempts running here. */
  active (): Array<{ id: string, n: number }> {
    return [...this.runs.values()].map(r => ({ id: r.id, n: r.n }))
  }

  isRunning (id: string, n: number): boolean {
    return this.runs.get(id)?.n === n
  }

  /** Cancel asked directly (by the node that took the DELETE): kill it now rather than on gossip. */
  cancel (id: string, reason: string): boolean {
    const run = this.runs.get(id)
    if (run === undefined) return false
    this.abort(run, 'cancel', reason)
    return true
  }

  /** Admission: accept the offer when there is room and it is current, then start it. */
  handleOffer (from: string, request: OfferRequest): OfferResponse {
    const refuse = (reason: NonNullable<OfferResponse['reason']>, detail: string): OfferResponse => {
      this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1
      return { k: 'offer', ok: false, reason, detail }
    }
    const { capacity } = this.ctx.init
    if (this.stopping) return refuse('stopping', 'the node is stopping')
    if (this.draining) return refuse('draining', 'the node is draining')
    if (this.runs.size >= capacity) return refuse('full', `${this.runs.size}/${capacity} running`)
    const offered = parseRecord(request.record)
    if (offered === undefined) throw new IdlemeshError('TASK_BAD_OFFER', 'the offered record is malformed', { status: 400 })
    const record = this.ctx.store.merge(offered, 'remote').record
    const last = lastAttempt(record)
    if (record.final !== undefined || record.cancel !== undefined) return refuse('stale', 'the task is finished or cancelled')
    if (record.coord.peer !== from || record.coord.epoch !== request.epoch) return refuse('stale', `node ${record.coord.peer} (epoch ${record.coord.epoch}) coordinates this task now`)
    if ((last?.n ?? 0) >= request.n || this.runs.has(record.id)) return refuse('stale', `attempt ${request.n} is not the next one`)
    const key = record.spec.conversation
    if (key !== undefined && [...this.runs.values()].some(r => r.conversation === key)) return refuse('conversation-busy', `a task of conversation ${key} is running here`)
    const budget = this.ctx.init.dailyBudgetUsd
    if (budget !== undefined) {
      const spent = spentToday(this.ctx.store.all(), this.ctx.now())
      if (spent >= budget) return refuse('budget', `today's budget of $${budget} is spent ($${spent.toFixed(4)})`)
    }

    const now = this.ctx.now()
    const attempt: Attempt = { n: request.n, node: this.ctx.self, coord: from, epoch: request.epoch, status: 'assigned', offeredAt: now }
    const run: ActiveRun = {
      id: record.id,
      n: request.n,
      ...(key === undefined ? {} : { conversation: key }),
      controller: new AbortController(),
      leaseUntil: now + this.ctx.init.leaseMs,
      target: from,
      attempt,
      settled: false,
      done: Promise.resolve()
    }
    this.runs.set(record.id, run)
    this.armLease(run)
    this.counters.accepted++
    this.ctx.write(withAttempt(record, attempt))
    run.done = this.execute(run).catch((err: Error) => {
      this.log.error({ taskId: run.id, err: err.message }, 'tasks: run failed unexpectedly')
    }).finally(() => {
      clearTimeout(run.leaseTimer)
      this.runs.delete(run.id)
      this.deps.onSlotFreed()
    })
    return { k: 'offer', ok: true }
  }

  private update (run: ActiveRun, fields: Partial<Attempt>): TaskRecord {
    run.attempt = compact({ ...run.attempt, ...fields })
    const current = this.ctx.store.get(run.id) as TaskRecord
    return this.ctx.write(withAttempt(current, run.attempt))
  }

  private armLease (run: ActiveRun): void {
    clearTimeout(run.leaseTimer)
    run.leaseTimer = setTimeout(() => {
      if (this.ctx.now() >= run.leaseUntil) this.abort(run, 'lease', `lost the lease: no renewal acknowledged for ${this.ctx.init.leaseMs} ms`)
      else this.armLease(run)
    }, Math.max(0, run.leaseUntil - this.ctx.now()))
  }

  private abort (run: ActiveRun, kind: StopKind, reason: string): void {
    if (run.stopKind !== undefined) return
    run.stopKind = kind
    run.stopReason = reason
    if (kind === 'lease') this.counters.leasesLost++
    if (kind === 'revoked') this.counters.revoked++
    this.log.warn({ taskId: run.id, attempt: run.n, kind, reason }, 'tasks: stopping a run')
    run.controller.abort(new Error(reason))
  }

  /** A record changed: does a run here have to stop? */
  private check (record: TaskRecord): void {
    const run = this.runs.get(record.id)
    if (run === undefined || run.stopKind !== undefined || run.settled) return
    if (record.cancel !== undefined) {
      this.abort(run, 'cancel', record.cancel.reason ?? `cancelled by ${record.cancel.by}`)
      return
    }
    const mine = findAttempt(record, run.n)
    const last = lastAttempt(record)
    if (record.final !== undefined && record.final.by !== this.ctx.self) {
      this.abort(run, 'revoked', `the task was finished elsewhere (${record.final.status})`)
    } else if (mine !== undefined && mine.node !== this.ctx.self) {
      this.abort(run, 'revoked', `attempt ${run.n} belongs to node ${mine.node} (coordinator ${mine.coord}, epoch ${mine.epoch})`)
    } else if (mine?.status === 'lost') {
      this.abort(run, 'revoked', mine.reason ?? 'the coordinator declared the attempt lost')
    } else if (last !== undefined && last.n > run.n) {
      this.abort(run, 'revoked', `attempt ${last.n} has started`)
    } else if (record.coord.peer !== run.target && record.coord.peer !== mine?.coord) {
      run.target = record.coord.peer
    }
  }

  /** Renews every run's lease with its coordinator; kills runs whose lease ran out. */
  private async renewAll (): Promise<void> {
    const now = this.ctx.now()
    const byTarget = new Map<string, ActiveRun[]>()
    for (const run of this.runs.values()) {
      if (run.stopKind !== undefined) continue
      if (now > run.leaseUntil) {
        this.abort(run, 'lease', `lost the lease: no renewal acknowledged for ${this.ctx.init.leaseMs} ms`)
        continue
      }
      const list = byTarget.get(run.target) ?? []
      list.push(run)
      byTarget.set(run.target, list)
    }
    await Promise.all([...byTarget.entries()].map(async ([target, runs]) => { await this.renewWith(target, runs, now) }))
  }

  private async renewWith (target: string, runs: ActiveRun[], sentAt: number): Promise<void> {
    const leases = runs.map(r => ({ id: r.id, n: r.n }))
    let response: LeaseResponse
    try {
      if (target === this.ctx.self) {
        response = this.deps.renewLocal(leases)
      } else {
        const answer = await this.deps.call(target, { v: WIRE_VERSION, k: 'lease', leases }, Math.max(500, Math.floor(this.ctx.init.leaseMs / RENEWALS_PER_LEASE)))
        if (answer.k !== 'lease') throw new Error(`unexpected ${answer.k} answer to a lease renewal`)
        response = answer
      }
    } catch (err) {
      // The coordinator is unreachable: try whoever would take its tasks over (it takes over
      // on the spot when it agrees the coordinator is gone).
      for (const run of runs) {
        const next = successorOf(this.ctx, run.id, target)
        if (next !== undefined) run.target = next
      }
      this.log.debug({ target, err: (err as Error).message }, 'tasks: lease renewal failed')
      return
    }
    for (const result of response.results) {
      const run = this.runs.get(result.id)
      if (run === undefined || run.n !== result.n) continue
      if (result.r === 'ok') {
        if (run.stopKind !== undefined) continue
        run.leaseUntil = Math.max(run.leaseUntil, sentAt + this.ctx.init.leaseMs)
        this.armLease(run)
        run.target = target
      } else if (result.r === 'revoked') {
        this.abort(run, 'revoked', `coordinator ${target} revoked the lease`)
      } else {
        run.target = result.coord ?? successorOf(this.ctx, run.id, target) ?? run.target
      }
    }
  }

  private async execute (run: ActiveRun): Promise<void> {
    const signal = run.controller.signal
    const record = this.ctx.store.get(run.id) as TaskRecord
    const spec = record.spec
    let result: RunResult | undefined
    let workspace: Workspace | undefined
    try {
      workspace = await this.prepareWorkspace(record, signal)
      const plan = await this.planSession(record, workspace)
      const prompt = composePrompt(spec, plan)
      if (signal.aborted) throw signal.reason
      this.update(run, compact({ status: 'running', startedAt: this.ctx.now(), cwd: workspace.dir, resumed: plan.resume, fromCheckpoint: plan.checkpointId }))
      result = await this.deps.runnerFor(spec).run({
        taskId: run.id,
        prompt,
        cwd: workspace.dir,
        ...(plan.resume === undefined ? {} : { resumeSessionId: plan.resume }),
        signal,
        onLine: (line) => { this.ctx.store.appendLog(run.id, run.n, { at: line.at, stream: line.stream, text: line.text }) }
      })
    } catch (err) {
      if (!signal.aborted) {
        const code = isIdlemeshError(err) ? err.code : 'TASK_PREPARE_FAILED'
        this.counters.failed++
        run.settled = true
        this.update(run, { status: 'failed', endedAt: this.ctx.now(), code, reason: `before the run: ${(err as Error).message}` })
        return
      }
    }
    await this.settle(run, record, result, workspace)
  }

  private async settle (run: ActiveRun, record: TaskRecord, result: RunResult | undefined, workspace: Workspace | undefined): Promise<void> {
    run.settled = true
    const now = this.ctx.now()
    const outcome: Partial<Attempt> = result === undefined
      ? { endedAt: now }
      : {
          endedAt: result.endedAt,
          ...(result.code === undefined ? {} : { code: result.code }),
          ...(result.reason === undefined ? {} : { reason: result.reason }),
          exitCode: result.exitCode,
          sessionId: result.sessionId,
          result: head(result.result, MAX_RESULT_CHARS),
          numTurns: result.numTurns,
          durationMs: result.durationMs,
          costUsd: result.costUsd,
          modelUsage: result.modelUsage,
          subtype: result.subtype,
          rawOutput: tail(result.rawOutput, MAX_TAIL_CHARS),
          stderr: tail(result.stderr, MAX_TAIL_CHARS)
        }
    // A result line, once read, says how the run went even if it was being stopped.
    if (result?.status === 'succeeded') {
      this.counters.succeeded++
      let publish: Attempt['publish']
      if (workspace?.kind === 'issue' && run.stopKind === undefined) publish = await this.publish(record, workspace, result)
      const done = this.update(run, { ...outcome, status: 'succeeded', ...(publish === undefined ? {} : { publish }) })
      this.ctx.write({ ...done, final: { status: 'succeeded', at: this.ctx.now(), by: this.ctx.self } })
    } else if (run.stopKind === 'cancel') {
      this.counters.cancelled++
      const done = this.update(run, { ...outcome, status: 'cancelled', code: 'TASK_CANCELLED', reason: run.stopReason })
      this.ctx.write({ ...done, final: { status: 'cancelled', at: this.ctx.now(), by: this.ctx.self, code: 'TASK_CANCELLED', reason: run.stopReason ?? 'cancelled' } })
    } else if (run.stopKind !== undefined) {
      const code = run.stopKind === 'lease' ? 'TASK_LEASE_LOST' : run.stopKind === 'revoked' ? 'TASK_REVOKED' : 'TASK_NODE_STOPPING'
      this.update(run, { ...outcome, status: 'lost', code, reason: run.stopReason })
    } else {
      this.counters.failed++
      this.update(run, { ...outcome, status: 'failed' })
    }
    if (record.spec.conversation !== undefined && run.attempt.sessionId !== undefined && run.attempt.status !== 'lost') {
      await this.saveConversation(record, run.attempt)
    }
  }

  private async prepareWorkspace (record: TaskRecord, signal: AbortSignal): Promise<Workspace> {
    const spec = record.spec
    const issue = issueRefOf(spec)
    if (issue !== undefined) return await this.deps.workspaces.forIssue(issue, { signal })
    if (spec.conversation !== undefined) return await this.deps.workspaces.forTask(conversationWorkspaceId(spec.conversation))
    return await this.deps.workspaces.forTask(record.id)
  }

  /**
   * Resume the conversation's session when this node holds its latest one; otherwise, when the
   * conversation has a past, continue from its last checkpoint.
   */
  private async planSession (record: TaskRecord, workspace: Workspace): Promise<{ resume?: string, summary?: ConversationSummary, checkpointId?: string }> {
    const key = record.spec.conversation
    if (key === undefined) return {}
    const holder = conversationHolder(this.ctx.store.conversation(key), record.id)
    const local = await this.ctx.store.getSession(key)
    if (local !== undefined && local.cwd === workspace.dir && (holder === undefined || holder.sessionId === local.sessionId)) {
      return { resume: local.sessionId }
    }
    if (holder === undefined || this.deps.checkpoints === undefined) return {}
    try {
      const latest = await this.deps.checkpoints.latest(conversationStream(key), { timeoutMs: this.ctx.init.checkpointTimeoutMs })
      const summary = parseSummary(latest.payload)
      if (summary === undefined) return {}
      this.log.info({ taskId: record.id, conversation: key, from: summary.node, checkpoint: latest.checkpoint.id }, 'tasks: continuing a conversation from its checkpoint')
      return { summary, checkpointId: latest.checkpoint.id }
    } catch (err) {
      this.log.warn({ taskId: record.id, conversation: key, err: (err as Error).message }, 'tasks: no conversation checkpoint to continue from')
      return {}
    }
  }

  private async saveConversation (record: TaskRecord, attempt: Attempt): Promise<void> {
    const key = record.spec.conversation as string
    try {
      if (attempt.sessionId !== undefined && attempt.cwd !== undefined) {
        await this.ctx.store.putSession({ conversation: key, sessionId: attempt.sessionId, taskId: record.id, cwd: attempt.cwd, at: this.ctx.now() })
      }
      if (this.deps.checkpoints === undefined) return
      const stream = conversationStream(key)
      let previous: ConversationSummary | undefined
      try {
        previous = parseSummary((await this.deps.checkpoints.latest(stream, { local: true })).payload)
      } catch {}
      const summary = summarise(previous, record, attempt, this.ctx.self, this.ctx.now())
      const payload = new TextEncoder().encode(JSON.stringify(summary))
      await this.deps.checkpoints.post({ stream, payload, meta: { label: `task ${record.id}`, kind: 'conversation', contentType: 'application/json', size: payload.length } })
    } catch (err) {
      this.log.warn({ taskId: record.id, conversation: key, err: (err as Error).message }, 'tasks: could not checkpoint the conversation')
    }
  }

  private async publish (record: TaskRecord, workspace: Workspace, result: RunResult): Promise<Attempt['publish']> {
    try {
      const published = await this.deps.workspaces.publish(workspace, {
        // The issue's title when the submission carried it; a routed webhook's task has only its prompt.
        title: (record.spec.issue?.title ?? (workspace.issue === undefined ? record.id : `Work on ${workspace.owner ?? ''}/${workspace.repo ?? ''}#${workspace.issue}`)).slice(0, 200),
        body: head(result.result ?? '', 60_000) ?? ''
      })
      if (published === undefined) return undefined
      return { ok: true, output: head(published.stdout, 8000) ?? '' }
    } catch (err) {
      this.log.warn({ taskId: record.id, err: (err as Error).message }, 'tasks: publish failed')
      return { ok: false, error: head((err as Error).message, 4000) ?? 'publish failed' }
    }
  }
}

/** The GitHub issue a task works on, when it names one (issue, or repo + conversation `owner/repo#N`). */
export function issueRefOf (spec: TaskSpec): { owner: string, repo: string, issue: number, url?: string } | undefined {
  if (spec.issue !== undefined) return { owner: spec.issue.owner, repo: spec.issue.repo, issue: spec.issue.number, ...(spec.repo === undefined ? {} : { url: spec.repo }) }
  if (spec.repo === undefined) return undefined
  const fromKey = parseConversationIssue(spec.conversation)
  if (fromKey !== undefined) return { owner: fromKey.owner, repo: fromKey.repo, issue: fromKey.number, url: spec.repo }
  return undefined
}
