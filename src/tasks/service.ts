import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { IdlemeshError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Member } from '../membership/index.ts'
import type {
  TaskService, TaskServiceComponents, TaskServiceInit, TaskSubmission, TaskListOptions, TaskLogEntry, TaskLogOptions, TaskHealth, CancelResult
} from './index.ts'
import type { ResolvedTaskInit, TaskContext } from './context.ts'
import { TaskStore } from './store.ts'
import { TaskReplication } from './replication.ts'
import { Scheduler } from './scheduler.ts'
import { Executor } from './executor.ts'
import { callPeer, serveRpc } from './rpc.ts'
import { costReport, spentToday, type CostGrouping, type CostReport } from './cost.ts'
import { toView, type TaskView } from './view.ts'
import {
  RECORD_VERSION, TASK_STATUSES, compareTasks, eventTaskId, isActive, lastAttempt, parseConversationIssue, parseRepoUrl, statusOf, taskIdProblem,
  type TaskRecord, type TaskSpec, type TaskStatus
} from './model.ts'
import {
  CAPACITY, KILL_GRACE_MS, LEASE_MS, MAX_ATTEMPTS, MAX_PROMPT_CHARS, OFFER_TIMEOUT_MS, RETENTION_MS, RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_MS,
  SYNC_INTERVAL_MS, WIRE_VERSION
} from './constants.ts'
import type { LogLineRecord, LogsResponse, RpcRequest, RpcResponse } from './wire.ts'

const submissionSchema = z.object({
  id: z.string().optional(),
  event: z.object({ source: z.string().min(1).max(256), id: z.string().min(1).max(512), action: z.union([z.string().max(64), z.number().int().min(0)]) }).optional(),
  prompt: z.string().refine(p => p.trim() !== '', 'the prompt is empty').refine(p => p.length <= MAX_PROMPT_CHARS, `the prompt is longer than ${MAX_PROMPT_CHARS} characters`),
  repo: z.string().min(1).max(2048).optional(),
  conversation: z.string().min(1).max(512).optional(),
  branch: z.string().max(256).optional(),
  stream: z.string().min(1).max(256).optional(),
  issue: z.union([
    z.number().int().min(1),
    z.object({
      owner: z.string().regex(/^[A-Za-z0-9_.-]+$/).max(100).optional(),
      repo: z.string().regex(/^[A-Za-z0-9_.-]+$/).max(100).optional(),
      number: z.number().int().min(1),
      title: z.string().max(4096).optional(),
      body: z.string().max(512 * 1024).optional(),
      comments: z.array(z.object({ author: z.string().max(256), body: z.string().max(256 * 1024) })).max(500).optional()
    })
  ]).optional(),
  model: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@/[\]-]*$/, 'not a model name').max(128).optional(),
  maxTurns: z.number().int().min(1).max(10_000).optional(),
  maxBudgetUsd: z.number().positive().max(100_000).optional()
}).strict()

const MEMBERS_CACHE_MS = 25

export class TaskServiceImpl implements TaskService {
  readonly store: TaskStore
  private readonly ctx: TaskContext
  private readonly replication: TaskReplication
  private readonly scheduler: Scheduler
  private readonly executor: Executor
  private readonly log: Logger
  private readonly c: TaskServiceComponents
  private pruneTimer?: NodeJS.Timeout
  private started = false
  private stopping?: Promise<void>
  private membersCache?: { at: number, list: Member[] }
  private readonly onMemberState = (): void => {
    this.membersCache = undefined
    this.scheduler.schedulePass()
  }

  constructor (components: TaskServiceComponents, init: TaskServiceInit = {}) {
    this.c = components
    this.log = components.logger.child({ module: 'tasks' })
    const resolved: ResolvedTaskInit = {
      capacity: init.capacity ?? CAPACITY,
      leaseMs: init.leaseMs ?? LEASE_MS,
      offerTimeoutMs: init.offerTimeoutMs ?? OFFER_TIMEOUT_MS,
      maxAttempts: init.maxAttempts ?? MAX_ATTEMPTS,
      retryBackoffMs: init.retryBackoffMs ?? RETRY_BACKOFF_MS,
      retryBackoffMaxMs: init.retryBackoffMaxMs ?? RETRY_BACKOFF_MAX_MS,
      killGraceMs: init.killGraceMs ?? KILL_GRACE_MS,
      syncIntervalMs: init.syncIntervalMs ?? SYNC_INTERVAL_MS,
      requestTimeoutMs: init.requestTimeoutMs ?? 5000,
      retentionMs: init.retentionMs ?? RETENTION_MS,
      startupGraceMs: init.startupGraceMs ?? 10_000,
      checkpointTimeoutMs: init.checkpointTimeoutMs ?? 3000,
      ...(init.dailyBudgetUsd === undefined ? {} : { dailyBudgetUsd: init.dailyBudgetUsd }),
      ...(init.maxTaskBudgetUsd === undefined ? {} : { maxTaskBudgetUsd: init.maxTaskBudgetUsd })
    }
    this.store = new TaskStore({ records: components.records, logs: components.logs, sessions: components.sessions, logger: this.log })
    const now = components.now ?? Date.now
    this.ctx = {
      self: components.mesh.peerId,
      init: resolved,
      store: this.store,
      mesh: components.mesh,
      membership: components.membership,
      logger: this.log,
      now,
      startedAt: now(),
      write: (record) => this.store.merge(record, 'local').record,
      members: () => {
        const t = Date.now()
        if (this.membersCache === undefined || t - this.membersCache.at > MEMBERS_CACHE_MS) this.membersCache = { at: t, list: components.membership.list() }
        return this.membersCache.list
      }
    }
    const call = async (peerId: string, request: RpcRequest, timeoutMs: number): Promise<RpcResponse> => await callPeer(components.mesh, peerId, request, timeoutMs)
    this.replication = new TaskReplication({ mesh: components.mesh, store: this.store, logger: this.log }, { syncIntervalMs: resolved.syncIntervalMs, requestTimeoutMs: resolved.requestTimeoutMs })
    this.scheduler = new Scheduler(this.ctx, {
      offerLocal: async (request) => this.executor.handleOffer(this.ctx.self, request),
      call
    })
    this.executor = new Executor(this.ctx, {
      runnerFor: components.runnerFor,
      workspaces: components.workspaces,
      ...(components.checkpoints === undefined ? {} : { checkpoints: components.checkpoints }),
      renewLocal: (leases) => this.scheduler.renew(this.ctx.self, leases),
      call,
      onSlotFreed: () => { this.scheduler.schedulePass() }
    })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.store.open()
    this.store.on('change', (record, previous) => { this.scheduler.onChange(record, previous) })
    this.replication.start()
    serveRpc(this.c.mesh, this.log, async (from, request) => await this.serve(from, request))
    this.c.membership.on('member:state', this.onMemberState)
    this.executor.start()
    this.scheduler.start()
    this.pruneTimer = setInterval(() => {
      void this.store.prune(this.ctx.now() - this.ctx.init.retentionMs).then(n => { if (n > 0) this.log.info({ pruned: n }, 'tasks: pruned finished tasks') }, () => {})
    }, 3600_000)
    this.pruneTimer.unref()
  }

  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.pruneTimer)
      this.c.membership.off('member:state', this.onMemberState)
      this.scheduler.stop()
      // Runs are killed and handed back as lost while gossip still works, so their coordinators
      // can place them again without waiting for the lease.
      await this.executor.stop()
      this.replication.stop()
      await this.store.flush()
    })()
    await this.stopping
  }

  // ---- submission and queries ----

  async submit (input: TaskSubmission): Promise<TaskView> {
    const submission = parseSubmission(input)
    const id = submission.id ?? (submission.event !== undefined ? eventTaskId(submission.event.source, submission.event.id, submission.event.action) : generatedId(this.ctx.now()))
    const problem = taskIdProblem(id)
    if (problem !== undefined) throw new IdlemeshError('TASK_INVALID', `invalid task id ${JSON.stringify(id)}: ${problem}`, { status: 400 })
    const existing = this.store.get(id)
    if (existing !== undefined) return { ...toView(existing), duplicate: true } as TaskView
    if (this.stopping !== undefined) throw new IdlemeshError('TASK_NODE_STOPPING', 'this node is stopping; submit the task to another node', { status: 503 })
    const budget = this.ctx.init.dailyBudgetUsd
    if (budget !== undefined) {
      const spent = spentToday(this.store.all(), this.ctx.now())
      if (spent >= budget) {
        throw new IdlemeshError('TASK_BUDGET_SPENT', `today's task budget of $${budget} is spent ($${spent.toFixed(4)} since 00:00 UTC); the task is refused — raise tasks.budget.dailyUsd or wait for tomorrow`, { status: 429 })
      }
    }
    const spec = this.specOf(submission)
    const record: TaskRecord = { v: RECORD_VERSION, id, spec, coord: { peer: this.ctx.self, epoch: 0, at: spec.createdAt }, attempts: [] }
    const stored = this.ctx.write(record)
    // Acknowledged once durable: a node that crashes after answering still has the task.
    await this.store.flush()
    this.log.info({ taskId: id, conversation: spec.conversation, repo: spec.repo }, 'tasks: submitted')
    return toView(stored)
  }

  get (id: string): TaskView | undefined {
    const record = this.store.get(id)
    if (record === undefined) return undefined
    const waiting = this.scheduler.waiting.get(id)
    return toView(record, waiting === undefined ? {} : { waiting })
  }

  list (options: TaskListOptions = {}): TaskView[] {
    const statuses = options.status === undefined ? undefined : new Set<TaskStatus>(Array.isArray(options.status) ? options.status : [options.status])
    const out: TaskRecord[] = []
    for (const record of this.store.all()) {
      if (statuses !== undefined && !statuses.has(statusOf(record))) continue
      if (options.conversation !== undefined && record.spec.conversation !== options.conversation) continue
      if (options.node !== undefined && lastAttempt(record)?.node !== options.node) continue
      out.push(record)
    }
    out.sort((a, b) => -compareTasks(a, b))
    return out.slice(0, options.limit ?? 1000).map(r => toView(r, { full: false, ...(this.scheduler.waiting.has(r.id) ? { waiting: this.scheduler.waiting.get(r.id) as string } : {}) }))
  }

  async cancel (id: string, reason = 'cancelled on request', options: { waitMs?: number } = {}): Promise<CancelResult> {
    let record = this.store.get(id)
    if (record === undefined) throw new IdlemeshError('TASK_NOT_FOUND', `no task ${id} on this node`, { status: 404 })
    if (record.final !== undefined) return { task: toView(record), ended: true }
    if (record.cancel === undefined) record = this.ctx.write({ ...record, cancel: { at: this.ctx.now(), by: this.ctx.self, reason } })
    const last = lastAttempt(record)
    if (last !== undefined && isActive(last)) {
      if (last.node === this.ctx.self) {
        this.executor.cancel(id, reason)
      } else {
        // Gossip carries the cancel too; asking the runner directly kills the run a hop sooner.
        await callPeer(this.c.mesh, last.node, { v: WIRE_VERSION, k: 'cancel', id, reason }, this.ctx.init.requestTimeoutMs).catch((err: Error) => {
          this.log.warn({ taskId: id, node: last.node, err: err.message }, 'tasks: could not reach the runner to cancel; the lease will end the run')
        })
      }
    } else {
      record = this.ctx.write({ ...record, final: { status: 'cancelled', at: this.ctx.now(), by: this.ctx.self, code: 'TASK_CANCELLED', reason } })
    }
    const deadline = this.ctx.now() + (options.waitMs ?? 10_000)
    while (this.store.get(id)?.final === undefined && this.ctx.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    const now = this.store.get(id) as TaskRecord
    return { task: toView(now), ended: now.final !== undefined }
  }

  cost (by: CostGrouping = 'node', since?: number): CostReport {
    return costReport(this.store.all(), by, since)
  }

  setDraining (draining: boolean): void {
    if (this.executor.draining !== draining) this.log.info({ draining }, draining ? 'tasks: draining: no new tasks; running ones finish' : 'tasks: no longer draining')
    this.executor.draining = draining
  }

  load (): { running: number, capacity: number, queued: number, draining: boolean } {
    return { running: this.executor.running, capacity: this.ctx.init.capacity, queued: this.scheduler.queued, draining: this.executor.draining }
  }

  health (): TaskHealth {
    const byStatus = Object.fromEntries(TASK_STATUSES.map(s => [s, 0])) as Record<TaskStatus, number>
    let coordinating = 0
    for (const record of this.store.all()) {
      byStatus[statusOf(record)]++
      if (record.final === undefined && record.coord.peer === this.ctx.self) coordinating++
    }
    return {
      ...this.load(),
      coordinating,
      known: this.store.size,
      byStatus,
      runningTasks: this.executor.active(),
      waiting: [...this.scheduler.waiting.entries()].slice(0, 50).map(([id, reason]) => ({ id, reason })),
      spentTodayUsd: spentToday(this.store.all(), this.ctx.now()),
      ...(this.ctx.init.dailyBudgetUsd === undefined ? {} : { dailyBudgetUsd: this.ctx.init.dailyBudgetUsd }),
      counters: { scheduler: this.scheduler.counters, executor: this.executor.counters, replication: this.replication.counters }
    }
  }

  /** Anti-entropy with one peer now (tests and the CLI's --sync use it). */
  async syncWith (peerId: string): Promise<number> {
    return await this.replication.syncWith(peerId)
  }

  // ---- logs ----

  async * logs (id: string, options: TaskLogOptions = {}): AsyncGenerator<TaskLogEntry> {
    if (this.store.get(id) === undefined) throw new IdlemeshError('TASK_NOT_FOUND', `no task ${id} on this node`, { status: 404 })
    const { signal, follow = false } = options
    let n = options.attempt ?? 1
    let after = options.after ?? -1
    const unreachable = new Set<number>()
    const nextAttempt = (): number | undefined => (this.store.get(id) as TaskRecord).attempts.find(a => a.n > n)?.n
    while (signal?.aborted !== true) {
      const record = this.store.get(id) as TaskRecord
      const attempt = record.attempts.find(a => a.n === n)
      if (attempt === undefined) {
        const next = options.attempt === undefined ? nextAttempt() : undefined
        if (next !== undefined) { n = next; after = -1; continue }
        if (!follow || record.final !== undefined || options.attempt !== undefined) return
        await this.waitForChange(id, 1000, signal)
        continue
      }
      let page: { lines: LogLineRecord[], done: boolean } = { lines: [], done: true }
      if (!unreachable.has(n)) {
        try {
          page = await this.readLogs(attempt.node, id, n, after, follow ? 10_000 : 0)
        } catch (err) {
          // The node that ran it is gone: say so in the log itself, and go on with the next attempt.
          unreachable.add(n)
          yield { attempt: n, node: attempt.node, seq: after + 1, at: this.ctx.now(), stream: 'stderr', text: `[idlemesh] ${(err as Error).message}` }
        }
      }
      for (const line of page.lines) {
        yield { attempt: n, node: attempt.node, ...line }
        after = line.seq
      }
      if (page.lines.length > 0) continue
      if (!page.done) {
        if (follow) continue
        return
      }
      if (options.attempt !== undefined) return
      const next = nextAttempt()
      if (next !== undefined) { n = next; after = -1; continue }
      if (!follow || (this.store.get(id) as TaskRecord).final !== undefined) return
      await this.waitForChange(id, 1000, signal)
    }
  }

  private async readLogs (node: string, id: string, n: number, after: number, waitMs: number): Promise<{ lines: LogLineRecord[], done: boolean }> {
    if (node === this.ctx.self) {
      const response = await this.localLogs({ v: WIRE_VERSION, k: 'logs', id, n, after, waitMs })
      return response
    }
    try {
      const response = await callPeer(this.c.mesh, node, { v: WIRE_VERSION, k: 'logs', id, n, after, waitMs }, waitMs + this.ctx.init.requestTimeoutMs)
      if (response.k !== 'logs') throw new Error(`unexpected ${response.k} answer`)
      return response
    } catch (err) {
      throw new IdlemeshError('TASK_LOGS_UNREACHABLE', `the log of task ${id} attempt ${n} is on node ${node}, which did not answer: ${(err as Error).message}`, { status: 503, cause: err })
    }
  }

  private async localLogs (request: Extract<RpcRequest, { k: 'logs' }>): Promise<LogsResponse> {
    const { id, n, after, waitMs } = request
    let lines = await this.store.readLog(id, n, after)
    if (lines.length === 0 && waitMs > 0 && this.executor.isRunning(id, n)) {
      await new Promise<void>(resolve => {
        const timer = setTimeout(finish, waitMs)
        const off = this.store.onLog(id, n, () => { finish() })
        const poll = setInterval(() => { if (!this.executor.isRunning(id, n)) finish() }, 100)
        function finish (): void {
          clearTimeout(timer)
          clearInterval(poll)
          off()
          resolve()
        }
      })
      lines = await this.store.readLog(id, n, after)
    }
    const live = this.executor.isRunning(id, n)
    return { k: 'logs', lines, done: !live && lines.length === 0, known: this.store.get(id) !== undefined }
  }

  private async waitForChange (id: string, ms: number, signal?: AbortSignal): Promise<void> {
    await new Promise<void>(resolve => {
      const finish = (): void => {
        clearTimeout(timer)
        this.store.off('change', onChange)
        signal?.removeEventListener('abort', finish)
        resolve()
      }
      const onChange = (record: TaskRecord): void => { if (record.id === id) finish() }
      const timer = setTimeout(finish, ms)
      this.store.on('change', onChange)
      signal?.addEventListener('abort', finish, { once: true })
    })
  }

  // ---- the node-to-node protocol ----

  private async serve (from: string, request: RpcRequest): Promise<RpcResponse> {
    switch (request.k) {
      case 'offer':
        return this.executor.handleOffer(from, request)
      case 'lease':
        return this.scheduler.renew(from, request.leases)
      case 'cancel': {
        const record = this.store.get(request.id)
        if (record !== undefined && record.cancel === undefined && record.final === undefined) {
          this.ctx.write({ ...record, cancel: { at: this.ctx.now(), by: from, ...(request.reason === undefined ? {} : { reason: request.reason }) } })
        }
        return { k: 'cancel', ok: this.executor.cancel(request.id, request.reason ?? `cancelled by ${from}`) }
      }
      case 'logs':
        return await this.localLogs(request)
    }
  }

  private specOf (s: ParsedSubmission): TaskSpec {
    const now = this.ctx.now()
    const spec: TaskSpec = {
      prompt: s.prompt,
      createdAt: now,
      createdBy: this.ctx.self,
      origin: s.event === undefined ? { kind: 'direct' } : { kind: 'event', source: s.event.source, eventId: s.event.id, action: String(s.event.action) }
    }
    if (s.repo !== undefined) spec.repo = s.repo
    if (s.stream !== undefined) spec.stream = s.stream
    if (s.conversation !== undefined) spec.conversation = s.conversation
    if (s.model !== undefined) spec.model = s.model
    if (s.maxTurns !== undefined) spec.maxTurns = s.maxTurns
    const budget = s.maxBudgetUsd ?? this.ctx.init.maxTaskBudgetUsd
    if (budget !== undefined) spec.maxBudgetUsd = budget
    // Which issue: given outright, or from the branch (`issue-N`) or the conversation (`owner/repo#N`).
    const fromKey = parseConversationIssue(s.conversation)
    const fromUrl = s.repo === undefined ? undefined : parseRepoUrl(s.repo)
    const branchNumber = /^issue-([1-9][0-9]*)$/.exec(s.branch ?? '')?.[1]
    const number = typeof s.issue === 'number' ? s.issue : s.issue?.number ?? (branchNumber === undefined ? fromKey?.number : Number(branchNumber))
    const owner = (typeof s.issue === 'object' ? s.issue.owner : undefined) ?? fromKey?.owner ?? fromUrl?.owner
    const repo = (typeof s.issue === 'object' ? s.issue.repo : undefined) ?? fromKey?.repo ?? fromUrl?.repo
    if (number !== undefined && owner !== undefined && repo !== undefined && (s.repo !== undefined || typeof s.issue === 'object')) {
      spec.issue = { owner, repo, number }
      if (typeof s.issue === 'object') {
        if (s.issue.title !== undefined) spec.issue.title = s.issue.title
        if (s.issue.body !== undefined) spec.issue.body = s.issue.body
        if (s.issue.comments !== undefined) spec.issue.comments = s.issue.comments
      }
    } else if (s.issue !== undefined) {
      throw new IdlemeshError('TASK_INVALID', 'an issue needs its repository: give repo (a clone URL) or issue.owner and issue.repo', { status: 400 })
    }
    return spec
  }
}

type ParsedSubmission = z.infer<typeof submissionSchema>

function parseSubmission (input: TaskSubmission): ParsedSubmission {
  const parsed = submissionSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = issue?.path.join('.') ?? ''
    throw new IdlemeshError('TASK_INVALID', `invalid task${field === '' ? '' : ` field ${field}`}: ${issue?.message ?? 'malformed'}`, { status: 400 })
  }
  return parsed.data
}

function generatedId (now: number): string {
  return `t-${now.toString(36)}-${randomBytes(5).toString('hex')}`
}
