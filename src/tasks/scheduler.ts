/**
 * The coordinator's side of tasks: every task has one coordinator (the node it was submitted
 * to, or whoever took it over), which places it, holds the lease of its running attempt, retries
 * it with backoff and dead-letters it after `maxAttempts`.
 *
 * Placement offers the task to the least-loaded live member (see placement.ts); the target
 * accepts or refuses, and on refusal the next one is tried. Offers in flight count against
 * their target, so a burst placed from one node never sends a member more than it has room for;
 * the target's own admission check is what guarantees it, across coordinators.
 *
 * Leases: the runner renews every leaseMs/4. The coordinator deems the lease lapsed
 * `leaseMs + killGraceMs + leaseMargin` after the last renewal it received; the runner gives its
 * run up (kills it) `leaseMs` after the last renewal it sent that was acknowledged. A renewal is
 * received after it was sent, so the runner's deadline always passes first, and the kill grace
 * (plus a margin for a late timer) covers the time its process group takes to die: the next
 * attempt cannot start while the last still runs. A node that does not see a majority of the
 * mesh acknowledges no renewal and places nothing (see hasQuorum).
 */
import type { Logger } from '../logger.ts'
import { isIdlemeshError } from '../errors.ts'
import type { TaskContext } from './context.ts'
import { aliveMembers, hasQuorum, peerGone, successorOf } from './context.ts'
import { compact, compareTasks, findAttempt, isActive, lastAttempt, withAttempt, type TaskRecord } from './model.ts'
import { rankCandidates, type Candidate } from './placement.ts'
import { spentToday } from './cost.ts'
import { TICK_MS, WIRE_VERSION } from './constants.ts'
import type { LeaseResponse, OfferRequest, OfferResponse, RpcRequest, RpcResponse } from './wire.ts'

/** Failures re-running cannot fix: the same limits would stop it again. */
const NON_RETRYABLE = new Set(['TASK_INVALID', 'RUNNER_INVALID', 'WORKSPACE_INVALID_NAME', 'WORKSPACE_TEMPLATE_UNKNOWN', 'error_max_turns', 'error_max_budget_usd'])

export interface SchedulerDeps {
  /** An offer to this node itself, answered without the network. */
  offerLocal: (request: OfferRequest) => Promise<OfferResponse>
  call: (peerId: string, request: RpcRequest, timeoutMs: number) => Promise<RpcResponse>
}

export interface SchedulerCounters {
  offers: number
  accepted: number
  refused: Record<string, number>
  offerErrors: number
  leasesLapsed: number
  takeovers: number
  retries: number
  deadLettered: number
}

interface Lease {
  n: number
  node: string
  /** Coordinator clock, ms: the lease lapses after this (plus the kill grace). */
  deadline: number
}

export class Scheduler {
  readonly counters: SchedulerCounters = { offers: 0, accepted: 0, refused: {}, offerErrors: 0, leasesLapsed: 0, takeovers: 0, retries: 0, deadLettered: 0 }
  private readonly ctx: TaskContext
  private readonly deps: SchedulerDeps
  private readonly log: Logger
  private readonly leases = new Map<string, Lease>()
  /** Task id → target of its offer in flight. */
  private readonly offering = new Map<string, string>()
  private readonly inflight = new Map<string, number>()
  /** What a refusal told us about a target, until the records catch up. */
  private readonly hints = new Map<string, { used: number, until: number }>()
  /** Why each task this node coordinates is waiting, for health and `task show`. */
  readonly waiting = new Map<string, string>()
  private passScheduled = false
  private timer?: NodeJS.Timeout
  private started = false

  constructor (ctx: TaskContext, deps: SchedulerDeps) {
    this.ctx = ctx
    this.deps = deps
    this.log = ctx.logger
  }

  start (): void {
    if (this.started) return
    this.started = true
    const every = Math.max(20, Math.min(TICK_MS, Math.floor(this.ctx.init.leaseMs / 8)))
    this.timer = setInterval(() => { this.pass() }, every)
    this.timer.unref()
    this.schedulePass()
  }

  stop (): void {
    this.started = false
    clearInterval(this.timer)
  }

  /** Tasks this node coordinates that wait for a node to take them. */
  get queued (): number {
    return this.waiting.size
  }

  /**
   * A record changed. An attempt that ended frees a slot on its node: what a refusal told about
   * that node is out of date, and the freed slot should be offered at once.
   */
  onChange (record: TaskRecord, previous: TaskRecord | undefined): void {
    const before = previous === undefined ? undefined : lastAttempt(previous)
    if (before !== undefined && isActive(before)) {
      const now = findAttempt(record, before.n)
      if (now === undefined || !isActive(now) || now.node !== before.node) this.hints.delete(before.node)
    }
    this.schedulePass()
  }

  /** Runs a scheduling pass soon (once per turn of the event loop, however often asked). */
  schedulePass (): void {
    if (this.passScheduled || !this.started) return
    this.passScheduled = true
    setImmediate(() => {
      this.passScheduled = false
      this.pass()
    })
  }

  /**
   * A runner renews its leases. Answers `ok` when this node coordinates the task and the
   * attempt is still the current one on that runner, `revoked` when it is not (the runner must
   * kill it), `redirect` with the coordinator this node knows of otherwise.
   */
  renew (from: string, leases: Array<{ id: string, n: number }>): LeaseResponse {
    const now = this.ctx.now()
    const results: LeaseResponse['results'] = []
    // Cut off with a minority, this node acknowledges nothing: the runs it would keep alive
    // may be placed again by the majority.
    const quorum = hasQuorum(this.ctx)
    for (const { id, n } of leases) {
      if (!quorum) {
        results.push({ id, n, r: 'redirect' })
        continue
      }
      let record = this.ctx.store.get(id)
      if (record === undefined) {
        results.push({ id, n, r: 'redirect' })
        continue
      }
      const attempt = findAttempt(record, n)
      const last = lastAttempt(record)
      // An attempt this node has not heard of yet (its accept or the runner's gossip is still
      // on the way) is renewed: if it came from a stale coordinator, merging fences it later.
      if (record.final !== undefined || record.cancel !== undefined ||
          (attempt !== undefined && (attempt.node !== from || !isActive(attempt))) ||
          (last !== undefined && last.n > n)) {
        results.push({ id, n, r: 'revoked' })
        continue
      }
      if (record.coord.peer !== this.ctx.self) {
        record = this.takeOverIfMine(record) ?? record
        if (record.coord.peer !== this.ctx.self) {
          results.push({ id, n, r: 'redirect', coord: record.coord.peer })
          continue
        }
      }
      this.leases.set(id, { n, node: from, deadline: now + this.ctx.init.leaseMs })
      results.push({ id, n, r: 'ok' })
    }
    return { k: 'lease', results }
  }

  /** One look at every open task: takeovers, leases, retries, finals, then placement. */
  pass (): void {
    if (!this.started) return
    if (!hasQuorum(this.ctx)) {
      // Leases are not judged either: the runs' renewals may simply not reach this side.
      for (const record of this.ctx.store.openRecords()) if (record.coord.peer === this.ctx.self) this.waiting.set(record.id, 'this node does not see a majority of the mesh; it coordinates nothing until it does')
      this.leases.clear()
      return
    }
    const now = this.ctx.now()
    const toPlace: TaskRecord[] = []
    const seen = new Set<string>()
    for (let record of this.ctx.store.openRecords()) {
      if (record.coord.peer !== this.ctx.self) {
        const taken = this.takeOverIfMine(record)
        if (taken === undefined) {
          this.forget(record.id)
          continue
        }
        record = taken
      }
      seen.add(record.id)
      if (this.offering.has(record.id)) continue
      const next = this.review(record, now)
      if (next !== undefined) toPlace.push(next)
    }
    for (const id of this.waiting.keys()) if (!seen.has(id)) this.waiting.delete(id)
    for (const id of this.leases.keys()) if (!seen.has(id)) this.leases.delete(id)
    if (toPlace.length > 0) this.place(toPlace.sort(compareTasks), now)
  }

  private forget (id: string): void {
    this.waiting.delete(id)
    this.leases.delete(id)
  }

  /** Takes over a task whose coordinator is gone when rendezvous hashing says this node should. */
  private takeOverIfMine (record: TaskRecord): TaskRecord | undefined {
    if (!peerGone(this.ctx, record.coord.peer)) return undefined
    if (successorOf(this.ctx, record.id) !== this.ctx.self) return undefined
    const taken = this.ctx.write({ ...record, coord: { peer: this.ctx.self, epoch: record.coord.epoch + 1, at: this.ctx.now() } })
    if (taken.coord.peer !== this.ctx.self) return undefined
    this.counters.takeovers++
    this.log.info({ taskId: record.id, from: record.coord.peer, epoch: taken.coord.epoch }, 'tasks: took over a task whose coordinator is gone')
    // Whatever runs it now gets a full lease from the takeover to find its new coordinator.
    const last = lastAttempt(taken)
    if (last !== undefined && isActive(last)) this.leases.set(taken.id, { n: last.n, node: last.node, deadline: this.ctx.now() + this.ctx.init.leaseMs })
    return taken
  }

  /**
   * Moves one coordinated task along. Returns it when it should be placed now; otherwise notes
   * why it waits (or finishes it).
   */
  private review (record: TaskRecord, now: number): TaskRecord | undefined {
    const { init } = this.ctx
    let last = lastAttempt(record)
    if (last !== undefined && isActive(last)) {
      const lease = this.leases.get(record.id)
      if (lease === undefined || lease.n !== last.n || lease.node !== last.node) {
        // First sight of this attempt (it was accepted before a restart or a takeover).
        this.leases.set(record.id, { n: last.n, node: last.node, deadline: now + init.leaseMs })
        this.waiting.delete(record.id)
        return undefined
      }
      if (now <= lease.deadline + init.killGraceMs + leaseMargin(init.leaseMs)) {
        this.waiting.delete(record.id)
        return undefined
      }
      this.counters.leasesLapsed++
      this.leases.delete(record.id)
      const reason = `lease lapsed: node ${last.node} did not renew within ${init.leaseMs} ms`
      this.log.warn({ taskId: record.id, attempt: last.n, node: last.node }, 'tasks: lease lapsed, the attempt is lost')
      record = this.ctx.write(withAttempt(record, { ...last, status: 'lost', endedAt: now, code: 'TASK_LEASE_LAPSED', reason }))
      last = lastAttempt(record)
      if (last !== undefined && isActive(last)) return undefined
    }
    if (record.final !== undefined) return undefined
    if (last?.status === 'succeeded') {
      this.finish(record, 'succeeded')
      return undefined
    }
    if (record.cancel !== undefined || last?.status === 'cancelled') {
      this.finish(record, 'cancelled', 'TASK_CANCELLED', record.cancel?.reason ?? last?.reason ?? 'cancelled')
      return undefined
    }
    if (last !== undefined) {
      const code = last.subtype !== undefined && NON_RETRYABLE.has(last.subtype) ? last.subtype : last.code
      if (code !== undefined && NON_RETRYABLE.has(code)) {
        this.finish(record, 'failed', code, last.reason ?? code)
        return undefined
      }
      if (last.n >= init.maxAttempts) {
        this.counters.deadLettered++
        this.finish(record, 'dead', 'TASK_DEAD_LETTER', `gave up after ${last.n} attempt${last.n === 1 ? '' : 's'}; last: ${last.reason ?? last.code ?? last.status}`)
        return undefined
      }
      const retryAt = (last.endedAt ?? now) + Math.min(init.retryBackoffMaxMs, init.retryBackoffMs * 2 ** (last.n - 1))
      if (now < retryAt) {
        this.waiting.set(record.id, `retry ${last.n + 1} of ${init.maxAttempts} at ${new Date(retryAt).toISOString()}`)
        return undefined
      }
    }
    return record
  }

  private finish (record: TaskRecord, status: 'succeeded' | 'failed' | 'cancelled' | 'dead', code?: string, reason?: string): void {
    this.forget(record.id)
    this.ctx.write({ ...record, final: compact({ status, at: this.ctx.now(), by: this.ctx.self, code, reason }) })
    if (status !== 'succeeded') this.log.info({ taskId: record.id, status, code, reason }, 'tasks: task finished')
  }

  /** Tasks in queue order; each goes to the best member with room, or waits. */
  private place (records: TaskRecord[], now: number): void {
    const used = this.usedByPeer(now)
    const alive = aliveMembers(this.ctx)
    let budgetSpent: number | undefined
    for (const record of records) {
      const blocker = this.conversationBlocker(record)
      if (blocker !== undefined) {
        this.waiting.set(record.id, blocker)
        continue
      }
      if (this.ctx.init.dailyBudgetUsd !== undefined) {
        budgetSpent ??= spentToday(this.ctx.store.all(), now)
        if (budgetSpent >= this.ctx.init.dailyBudgetUsd) {
          this.finish(record, 'failed', 'TASK_BUDGET_SPENT', `today's budget of $${this.ctx.init.dailyBudgetUsd} is spent ($${budgetSpent.toFixed(4)} since 00:00 UTC); the task was not started`)
          continue
        }
      }
      const holder = this.holderFor(record)
      let pool = alive.filter((m): m is { peerId: string, load: NonNullable<typeof m.load> } => m.load !== undefined)
      if (holder !== undefined) pool = pool.filter(m => m.peerId === holder)
      const candidates: Candidate[] = pool.map(m => ({ peerId: m.peerId, load: m.load, used: (used.get(m.peerId) ?? 0) + (this.inflight.get(m.peerId) ?? 0) }))
      const best = rankCandidates(candidates)[0]
      if (best === undefined) {
        this.waiting.set(record.id, holder !== undefined ? `waiting for node ${holder}, which holds conversation ${record.spec.conversation ?? ''}, to have room` : 'no live node has room')
        continue
      }
      this.waiting.delete(record.id)
      void this.offer(record, best.peerId)
    }
  }

  /**
   * Tasks assigned or running on each member, from the records (they move faster than load
   * reports), raised to what a recent refusal told.
   */
  private usedByPeer (now: number): Map<string, number> {
    const used = new Map<string, number>()
    for (const record of this.ctx.store.openRecords()) {
      const last = lastAttempt(record)
      if (last !== undefined && isActive(last)) used.set(last.node, (used.get(last.node) ?? 0) + 1)
    }
    for (const [peer, hint] of this.hints) {
      if (hint.until < now) this.hints.delete(peer)
      else used.set(peer, Math.max(used.get(peer) ?? 0, hint.used))
    }
    return used
  }

  /** Why a conversation task must wait for an earlier one, if it must. */
  private conversationBlocker (record: TaskRecord): string | undefined {
    const key = record.spec.conversation
    if (key === undefined) return undefined
    for (const other of this.ctx.store.conversation(key)) {
      if (other.id === record.id) return undefined
      if (other.final === undefined) return `waiting for ${other.id}, earlier in conversation ${key}`
    }
    return undefined
  }

  /**
   * The node a conversation task must go to: the one holding its latest session, while that
   * node is alive and not draining. Undefined means any node (it continues from the checkpoint).
   */
  private holderFor (record: TaskRecord): string | undefined {
    const key = record.spec.conversation
    if (key === undefined) return undefined
    const holder = conversationHolder(this.ctx.store.conversation(key), record.id)
    if (holder === undefined) return undefined
    const member = this.ctx.members().find(m => m.peerId === holder.node)
    if (member === undefined || member.state !== 'alive' || member.load === undefined || member.load.draining || member.load.capacity === 0) return undefined
    return holder.node
  }

  private async offer (record: TaskRecord, target: string): Promise<void> {
    const n = (lastAttempt(record)?.n ?? 0) + 1
    const request: OfferRequest = { v: WIRE_VERSION, k: 'offer', record, n, epoch: record.coord.epoch }
    this.offering.set(record.id, target)
    this.inflight.set(target, (this.inflight.get(target) ?? 0) + 1)
    this.counters.offers++
    let accepted = false
    let uncertain = false
    try {
      let response: OfferResponse
      if (target === this.ctx.self) {
        response = await this.deps.offerLocal(request)
      } else {
        const answer = await this.deps.call(target, request, this.ctx.init.offerTimeoutMs)
        if (answer.k !== 'offer') throw new Error(`unexpected ${answer.k} answer to an offer`)
        response = answer
      }
      if (response.ok) {
        accepted = true
      } else {
        const reason = response.reason ?? 'refused'
        this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1
        const running = /^(\d+)\//.exec(response.detail ?? '')?.[1]
        if (reason === 'full' && running !== undefined) this.hints.set(target, { used: Number(running), until: this.ctx.now() + 1000 })
        this.log.debug({ taskId: record.id, target, reason, detail: response.detail }, 'tasks: offer refused')
      }
    } catch (err) {
      this.counters.offerErrors++
      // Unreachable before the offer went out: nothing happened there. Anything else (a timeout
      // after sending) may have started it: treat it as accepted and let the lease decide.
      uncertain = !(isIdlemeshError(err) && err.code === 'TASK_PEER_UNREACHABLE' && /not reachable/.test(err.message))
      this.log.warn({ taskId: record.id, target, err: (err as Error).message, uncertain }, 'tasks: offer failed')
    } finally {
      this.offering.delete(record.id)
      this.inflight.set(target, Math.max(0, (this.inflight.get(target) ?? 1) - 1))
    }
    if (accepted || uncertain) {
      if (accepted) this.counters.accepted++
      const now = this.ctx.now()
      const current = this.ctx.store.get(record.id) ?? record
      if (findAttempt(current, n) === undefined) {
        this.ctx.write(withAttempt(current, { n, node: target, coord: this.ctx.self, epoch: record.coord.epoch, status: 'assigned', offeredAt: now }))
      }
      this.leases.set(record.id, { n, node: target, deadline: now + this.ctx.init.leaseMs })
      if (n > 1) this.counters.retries++
    }
    this.schedulePass()
  }
}

/**
 * Slack on top of the kill grace before a coordinator calls a lease lapsed: the runner's kill
 * timer may fire late on a loaded machine, and SIGTERM takes a moment to land.
 */
export function leaseMargin (leaseMs: number): number {
  return Math.max(500, Math.floor(leaseMs / 5))
}

/** The attempt holding a conversation's latest session, among tasks before `beforeId` (or all). */
export function conversationHolder (tasks: TaskRecord[], beforeId?: string): { node: string, sessionId: string, taskId: string } | undefined {
  let holder: { node: string, sessionId: string, taskId: string } | undefined
  for (const task of tasks) {
    if (task.id === beforeId) break
    for (const attempt of task.attempts) {
      if (attempt.sessionId !== undefined && attempt.status !== 'lost') holder = { node: attempt.node, sessionId: attempt.sessionId, taskId: task.id }
    }
  }
  return holder
}
