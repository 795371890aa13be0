import type { Logger } from '../logger.ts'
import type { LoadReport, Member } from '../membership/index.ts'
import type { TaskMembership, TaskMesh } from './index.ts'
import type { TaskStore } from './store.ts'
import type { TaskRecord } from './model.ts'
import { rendezvous } from './placement.ts'

/** The task service's settings with every default applied. */
export interface ResolvedTaskInit {
  capacity: number
  leaseMs: number
  offerTimeoutMs: number
  maxAttempts: number
  retryBackoffMs: number
  retryBackoffMaxMs: number
  killGraceMs: number
  syncIntervalMs: number
  requestTimeoutMs: number
  retentionMs: number
  dailyBudgetUsd?: number
  maxTaskBudgetUsd?: number
  /** After start, a coordinator missing from the member table is not taken for gone until this passes. */
  startupGraceMs: number
  checkpointTimeoutMs: number
}

/** What the scheduler and the executor share: one per node. */
export interface TaskContext {
  self: string
  init: ResolvedTaskInit
  store: TaskStore
  mesh: TaskMesh
  membership: TaskMembership
  logger: Logger
  now: () => number
  startedAt: number
  /** Merges a change made here into the store (and so into gossip); returns the merged record. */
  write: (record: TaskRecord) => TaskRecord
  /** The member table, read once per turn of the event loop however often it is asked for. */
  members: () => Member[]
}

export type PeerState = Member['state'] | 'unknown'

export function peerState (ctx: TaskContext, peerId: string): PeerState {
  if (peerId === ctx.self) return 'alive'
  return ctx.members().find(m => m.peerId === peerId)?.state ?? 'unknown'
}

/** True when `peerId` is known to be gone: dead, left, or (after the startup grace) unknown. */
export function peerGone (ctx: TaskContext, peerId: string): boolean {
  const state = peerState(ctx, peerId)
  if (state === 'dead' || state === 'left') return true
  return state === 'unknown' && ctx.now() - ctx.startedAt > ctx.init.startupGraceMs
}

export function aliveMembers (ctx: TaskContext): Array<{ peerId: string, load?: LoadReport }> {
  return ctx.members().filter(m => m.state === 'alive').map(m => ({ peerId: m.peerId, ...(m.load === undefined ? {} : { load: m.load }) }))
}

/**
 * Whether this node sees a majority of the mesh, and so may coordinate: place tasks, renew
 * leases, take tasks over. A node cut off with a minority would otherwise take over (and run
 * again) what the majority also takes over. Members that said goodbye do not count, nor do
 * those found crashed — their host refused the connection, which a partition does not do — so a
 * survivor of crashes keeps working whatever their number. A two-node mesh whose peer merely
 * went silent waits: it cannot tell that from a partition.
 */
export function hasQuorum (ctx: TaskContext): boolean {
  let counted = 0
  let alive = 0
  for (const m of ctx.members()) {
    if (m.state === 'left') continue
    if (m.state === 'dead' && /refused/.test(m.reason ?? '')) continue
    counted++
    if (m.state === 'alive') alive++
  }
  return alive * 2 > counted
}

/**
 * Who coordinates a task whose coordinator is gone: rendezvous hashing of the task id over the
 * members alive in this node's view, so survivors split a dead node's tasks between them and
 * agree on who takes which without talking.
 */
export function successorOf (ctx: TaskContext, taskId: string, exclude?: string): string | undefined {
  const peers = aliveMembers(ctx).map(m => m.peerId).filter(p => p !== exclude)
  return rendezvous(taskId, peers)
}
