import { randomUUID } from 'node:crypto'
import type { Logger } from '../logger.ts'
import type { Member, MemberState } from '../membership/index.ts'
import type { Action } from '../webhooks/index.ts'
import type { ActionRunner } from './actions.ts'
import { isTerminal, ownerOf, type ActionState } from './record.ts'
import type { EventReplicator } from './replication.ts'
import type { EventStore } from './store.ts'

export interface DispatcherInit {
  /** See events.claimSettleMs. */
  claimSettleMs: number
  /** See events.startupSettleMs. */
  startupSettleMs: number
  /** See events.aloneAfterMs. */
  aloneAfterMs: number
  /** True when the node has bootstrap peers to join: it waits for one (see aloneAfterMs). */
  expectPeers: boolean
  maxConcurrentActions: number
}

/** Members that may own events: alive or suspect (a slow member is not yet replaced). */
const OWNER_STATES: readonly MemberState[] = ['alive', 'suspect']

/** The part of membership the dispatcher reads. */
export interface MembershipView {
  list: () => Member[]
  peerIdsIn: (states: readonly MemberState[]) => string[]
  on: (event: 'member:state', listener: (member: Member, previous: MemberState | undefined) => void) => unknown
  off: (event: 'member:state', listener: (member: Member, previous: MemberState | undefined) => void) => unknown
}

export interface DispatcherComponents {
  peerId: string
  store: EventStore
  replicator: Pick<EventReplicator, 'announceActions' | 'hasSyncedWith' | 'syncedOnce'>
  membership: MembershipView
  connectedPeers: () => string[]
  runner: ActionRunner
  logger: Logger
  now?: () => number
}

export interface DispatcherCounters {
  succeeded: number
  failed: number
  unknown: number
  /** Claims this node made and then saw lose to another node's. */
  claimsLost: number
  /** Claims of departed nodes this node took over or released. */
  takeovers: number
}

/** A re-check of every open event this often catches whatever no change announced. */
const SWEEP_MS = 1000
/** Side-effect free: run without a claim, by the owner alone. */
const FREE: ReadonlySet<Action['kind']> = new Set(['noop'])

/**
 * Runs each event's actions once across the mesh. The right to run an event's actions belongs
 * to its owner: the member, among those alive or suspect, ranked first for the event's key
 * (rendezvous hashing, see record.ts), which every node computes alike. The owner takes each
 * action in order:
 *
 *   claim (written to disk, gossiped) → wait claimSettleMs → still ours? → started (written,
 *   gossiped, sent) → run → succeeded | failed (written, gossiped)
 *
 * Two nodes that briefly disagree on the owner (a member joining) both claim; the claims meet
 * during the settle window and the join (record.ts) keeps one, so only one starts. When the
 * owner dies, the next member in rank takes its unfinished actions over: a claimed one is run
 * again (it never started); a started command is marked `unknown` instead, since its side
 * effect may have happened; checkpoint and task actions are idempotent and run again. A node
 * back from a crash first releases what its previous run had claimed, by the same rules.
 *
 * Nothing runs until the node knows the mesh (see `ready`): a node back from a crash must learn
 * what the mesh did while it was away, and a node joining must not act as a mesh of one.
 */
export class Dispatcher {
  readonly runId = randomUUID().slice(0, 8)
  readonly counters: DispatcherCounters = { succeeded: 0, failed: 0, unknown: 0, claimsLost: 0, takeovers: 0 }
  private readonly c: DispatcherComponents
  private readonly init: DispatcherInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly startedAt: number
  /** Events with unfinished actions. */
  private readonly open = new Set<string>()
  private readonly dirty = new Set<string>()
  /** `key#index` of actions this process is claiming, running or releasing. */
  private readonly inflight = new Map<string, AbortController>()
  private readonly tasks = new Set<Promise<void>>()
  private waiting: Array<() => void> = []
  private running = 0
  private scheduled = false
  private timer?: NodeJS.Timeout
  private stopping = false
  private unsubscribe?: () => void
  private readonly onMember = (): void => { this.markAllDirty() }

  constructor (components: DispatcherComponents, init: DispatcherInit) {
    this.c = components
    this.init = init
    this.log = components.logger.child({ module: 'event-dispatch' })
    this.now = components.now ?? Date.now
    this.startedAt = this.now()
  }

  start (): void {
    for (const [key, meta] of this.c.store.entries()) {
      if (meta.actions.some(a => !isTerminal(a))) this.open.add(key)
    }
    this.unsubscribe = this.c.store.onChange((key) => { this.touch(key) })
    this.c.membership.on('member:state', this.onMember)
    this.timer = setInterval(() => { this.markAllDirty() }, SWEEP_MS)
    this.timer.unref()
    this.markAllDirty()
  }

  /** Stops taking actions; interrupts running ones and waits for them to record it. */
  async stop (): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    clearInterval(this.timer)
    this.unsubscribe?.()
    this.c.membership.off('member:state', this.onMember)
    for (const controller of this.inflight.values()) controller.abort()
    for (const resume of this.waiting) resume()
    this.waiting = []
    await Promise.allSettled([...this.tasks])
  }

  /** Actions started and not finished, actions waiting for a slot, events with unfinished actions. */
  get depth (): { running: number, waiting: number, open: number } {
    return { running: this.running, waiting: this.waiting.length, open: this.open.size }
  }

  /**
   * Whether this node may act now: it has been up for startupSettleMs; it has synced with a
   * peer if it has bootstrap peers (or waited aloneAfterMs for one); and every peer it is
   * connected to is a member it has heard from and has synced with, so its view of the mesh
   * (who owns what, what was done) is as complete as it can be.
   */
  ready (): boolean {
    const up = this.now() - this.startedAt
    if (up < this.init.startupSettleMs) return false
    if (this.init.expectPeers && !this.c.replicator.syncedOnce && up < this.init.aloneAfterMs) return false
    const members = new Set(this.candidates())
    return this.c.connectedPeers().every(peer => members.has(peer) && this.c.replicator.hasSyncedWith(peer))
  }

  /** Members that may own events (OWNER_STATES), this node included. */
  candidates (): string[] {
    return this.c.membership.peerIdsIn(OWNER_STATES)
  }

  ownerOf (key: string): string | undefined {
    return ownerOf(key, this.candidates())
  }

  private touch (key: string): void {
    const meta = this.c.store.meta(key)
    if (meta === undefined || meta.actions.every(isTerminal)) {
      this.open.delete(key)
      return
    }
    this.open.add(key)
    this.dirty.add(key)
    this.schedule()
  }

  private markAllDirty (): void {
    for (const key of this.open) this.dirty.add(key)
    this.schedule()
  }

  private schedule (): void {
    if (this.scheduled || this.stopping) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      if (this.stopping) return
      const keys = [...this.dirty]
      this.dirty.clear()
      if (keys.length === 0 || !this.ready()) return
      const candidates = this.candidates()
      for (const key of keys) this.evaluate(key, candidates)
    })
  }

  private evaluate (key: string, candidates: string[]): void {
    const meta = this.c.store.meta(key)
    if (meta === undefined) { this.open.delete(key); return }
    const self = this.c.peerId
    const alive = new Set(candidates)
    // A previous run of this node left claims behind: release them first, whoever owns the event now.
    for (const [index, state] of meta.actions.entries()) {
      if (isTerminal(state) || state.by !== self || state.run === this.runId || this.inflight.has(slot(key, index))) continue
      this.track(key, index, async () => { await this.release(key, index, state, meta.kinds[index] as Action['kind']) })
      return
    }
    if (ownerOf(key, candidates) !== self) return
    for (const [index, state] of meta.actions.entries()) {
      if (isTerminal(state)) continue
      if (this.inflight.has(slot(key, index))) return
      const kind = meta.kinds[index] as Action['kind']
      if (state.state === 'pending') {
        // A generation above 0 means an earlier claim was released or taken over: the action
        // may have run partly, so it runs as a retry (idempotent runners look for what it made).
        this.track(key, index, async () => { await this.runAction(key, index, state.gen, state.gen > 0) })
        return
      }
      // Claimed or started by a member still around: it is on it.
      if (state.by !== undefined && state.by !== self && alive.has(state.by)) return
      // Its claimant left or died.
      this.counters.takeovers++
      if (state.state === 'started' && kind === 'command') {
        this.track(key, index, async () => { await this.finish(key, index, state.gen, 'unknown', undefined, `${state.by ?? 'a node'} started this command and left before reporting; not run again, since a command may not be safe to repeat`) })
        return
      }
      this.log.info({ key, index, from: state.by, state: state.state }, 'taking over an action from a departed node')
      this.track(key, index, async () => { await this.runAction(key, index, state.gen + 1, true) })
      return
    }
  }

  private track (key: string, index: number, work: () => Promise<void>): void {
    const id = slot(key, index)
    const controller = new AbortController()
    this.inflight.set(id, controller)
    const task = (async () => {
      try {
        await work()
      } catch (err) {
        this.log.error({ err, key, index }, 'action bookkeeping failed')
      } finally {
        this.inflight.delete(id)
        this.touch(key)
      }
    })()
    this.tasks.add(task)
    void task.finally(() => { this.tasks.delete(task) })
  }

  private async release (key: string, index: number, state: ActionState, kind: Action['kind']): Promise<void> {
    this.counters.takeovers++
    if (state.state === 'started' && kind === 'command') {
      await this.finish(key, index, state.gen, 'unknown', undefined, 'this node restarted while the command ran; not run again, since a command may not be safe to repeat')
      return
    }
    this.log.info({ key, index, state: state.state }, 'releasing an action claimed before a restart')
    await this.write(key, index, { state: 'pending', gen: state.gen + 1 }, true)
  }

  private async runAction (key: string, index: number, gen: number, retry: boolean): Promise<void> {
    const controller = this.inflight.get(slot(key, index)) as AbortController
    const meta = this.c.store.meta(key)
    const kind = meta?.kinds[index]
    if (kind === undefined) return
    await this.acquire()
    try {
      if (this.stopping) return
      const self = this.c.peerId
      if (!FREE.has(kind)) {
        const claim: ActionState = { state: 'claimed', gen, by: self, run: this.runId, claimedAt: this.now() }
        await this.write(key, index, claim, true)
        if (this.init.claimSettleMs > 0) await sleep(this.init.claimSettleMs)
        const current = this.c.store.meta(key)?.actions[index]
        if (current === undefined || current.state !== 'claimed' || current.by !== self || current.run !== this.runId || current.gen !== gen) {
          this.counters.claimsLost++
          this.log.info({ key, index, winner: current?.by }, 'another node claimed this action first; leaving it to them')
          return
        }
        if (this.stopping) {
          await this.write(key, index, { state: 'pending', gen: gen + 1 }, false)
          return
        }
        await this.write(key, index, { ...claim, state: 'started', startedAt: this.now() }, true)
      }
      if (kind === 'noop') {
        await this.finish(key, index, gen, 'succeeded', null)
        return
      }
      const record = await this.c.store.getRecord(key)
      const action = record?.base.decision.actions[index]
      if (record === undefined || action === undefined) return
      let result: unknown
      try {
        result = await this.c.runner.run(action, { key, index, record, retry, signal: controller.signal })
      } catch (err) {
        await this.finish(key, index, gen, 'failed', undefined, (err as Error).message)
        return
      }
      await this.finish(key, index, gen, 'succeeded', result)
    } finally {
      this.releaseSlot()
    }
  }

  private async finish (key: string, index: number, gen: number, state: 'succeeded' | 'failed' | 'unknown', result: unknown, error?: string): Promise<void> {
    const now = this.now()
    const previous = this.c.store.meta(key)?.actions[index]
    const outcome: ActionState = {
      state,
      gen,
      by: this.c.peerId,
      run: this.runId,
      ...(previous?.claimedAt === undefined ? {} : { claimedAt: previous.claimedAt }),
      ...(previous?.startedAt === undefined ? {} : { startedAt: previous.startedAt }),
      finishedAt: now,
      ...(result === undefined ? {} : { result }),
      ...(error === undefined ? {} : { error: error.slice(0, 4000) })
    }
    this.counters[state]++
    const level = state === 'succeeded' ? 'info' : 'warn'
    this.log[level]({ key, index, kind: this.c.store.meta(key)?.kinds[index], state, error }, 'action finished')
    await this.write(key, index, outcome, false)
  }

  /**
   * Merges one action's new state, waits until it is on disk, and gossips it: at once and
   * awaited when `send` (a claim or a start must reach the peers before the next step), batched
   * otherwise.
   */
  private async write (key: string, index: number, state: ActionState, send: boolean): Promise<void> {
    const meta = this.c.store.meta(key)
    if (meta === undefined) return
    const next = meta.actions.map((s, i) => i === index ? state : s)
    const { durable } = this.c.store.mergeActions(key, next)
    await durable
    if (send) {
      await this.c.replicator.announceActions(key, true).catch((err: Error) => {
        this.log.debug({ key, err: err.message }, 'could not gossip an action step; anti-entropy will carry it')
      })
    } else {
      void this.c.replicator.announceActions(key, false)
    }
  }

  private async acquire (): Promise<void> {
    if (this.running < this.init.maxConcurrentActions || this.stopping) {
      this.running++
      return
    }
    await new Promise<void>(resolve => { this.waiting.push(resolve) })
    this.running++
  }

  private releaseSlot (): void {
    this.running--
    this.waiting.shift()?.()
  }
}

function slot (key: string, index: number): string {
  return `${key}#${index}`
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
