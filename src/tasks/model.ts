/**
 * The task record every node stores, and the rule that merges two copies of it.
 *
 * A record is a small state-based CRDT: each part only moves forward, and `mergeRecords` is
 * commutative, associative and idempotent, so every node that has seen the same writes holds
 * the same record whatever order they arrived in (and its digest says so in 16 hex characters).
 *
 * - `spec` is fixed at submission; two different specs under one id keep the earliest.
 * - `coord` (who schedules the task) moves to the greater (epoch, peer): a takeover raises the
 *   epoch, and two nodes taking over at once settle on the greater peer ID.
 * - `attempts` merge one by one by number: the same node's reports move along
 *   assigned → running → lost → succeeded | failed | cancelled (a runner's own outcome outranks
 *   the "lost" its coordinator declared); two different nodes under one number (a takeover
 *   race) keep the one offered by the greater (epoch, coordinator), and the other run is fenced.
 * - `cancel` keeps the earliest request; `final` keeps the highest-ranked outcome.
 */
import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import type { RunReport } from '../runner/index.ts'

export const RECORD_VERSION = 1

export type TaskStatus = 'queued' | 'assigned' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'dead'
export type AttemptStatus = 'assigned' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'lost'
export type FinalStatus = 'succeeded' | 'failed' | 'cancelled' | 'dead'

export const TASK_STATUSES: readonly TaskStatus[] = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled', 'dead']

export interface IssueInfo {
  owner: string
  repo: string
  number: number
  title?: string
  body?: string
  comments?: Array<{ author: string, body: string }>
}

export interface TaskSpec {
  prompt: string
  /** Submitting node's clock, ms; orders a conversation's tasks. */
  createdAt: number
  createdBy: string
  /** Where it came from: `direct` (HTTP/CLI) or `event` (a routed webhook or cron action). */
  origin: { kind: 'direct' } | { kind: 'event', source: string, eventId: string, action: string }
  /** Clone URL of the repository worked on. */
  repo?: string
  /** Cost grouping: `owner/repo` when known, else what the submitter named. */
  stream?: string
  /** Follow-ups with the same key resume one Claude Code session, e.g. `owner/repo#42`. */
  conversation?: string
  issue?: IssueInfo
  model?: string
  maxTurns?: number
  maxBudgetUsd?: number
}

export interface Attempt extends RunReport {
  n: number
  node: string
  /** Coordinator that offered it and its epoch then: fences a run offered by a stale coordinator. */
  coord: string
  epoch: number
  status: AttemptStatus
  offeredAt: number
  startedAt?: number
  endedAt?: number
  code?: string
  reason?: string
  exitCode?: number | null
  sessionId?: string
  /** The session this run resumed (`--resume`). */
  resumed?: string
  /** Id of the conversation checkpoint this run continued from, when it could not resume. */
  fromCheckpoint?: string
  cwd?: string
  publish?: { ok: boolean, output?: string, error?: string }
}

export interface TaskRecord {
  v: typeof RECORD_VERSION
  id: string
  spec: TaskSpec
  coord: { peer: string, epoch: number, at: number }
  /** Sorted by n. */
  attempts: Attempt[]
  cancel?: { at: number, by: string, reason?: string }
  final?: { status: FinalStatus, at: number, by: string, code?: string, reason?: string }
}

const ATTEMPT_RANK: Record<AttemptStatus, number> = { assigned: 1, running: 2, lost: 3, succeeded: 4, failed: 4, cancelled: 4 }
const FINAL_RANK: Record<FinalStatus, number> = { succeeded: 4, cancelled: 3, dead: 2, failed: 1 }

export function isActive (attempt: Attempt | undefined): boolean {
  return attempt !== undefined && (attempt.status === 'assigned' || attempt.status === 'running')
}

export function lastAttempt (record: TaskRecord): Attempt | undefined {
  return record.attempts[record.attempts.length - 1]
}

export function findAttempt (record: TaskRecord, n: number): Attempt | undefined {
  return record.attempts.find(a => a.n === n)
}

/**
 * The status people see, derived from the record: a written `final` decides; otherwise the
 * latest attempt if it is under way; otherwise `cancelled` once asked, else `queued` (waiting
 * for a first placement, or for a retry).
 */
export function statusOf (record: TaskRecord): TaskStatus {
  if (record.final !== undefined) return record.final.status
  const last = lastAttempt(record)
  if (last !== undefined && isActive(last)) return last.status as TaskStatus
  if (record.cancel !== undefined) return 'cancelled'
  return 'queued'
}

export function isFinal (record: TaskRecord): boolean {
  return record.final !== undefined
}

/** Order of tasks in a queue and in a conversation: submission time, then id. */
export function compareTasks (a: TaskRecord, b: TaskRecord): number {
  return a.spec.createdAt - b.spec.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** `record` with `attempt` in place of the attempt of the same number (or added). */
export function withAttempt (record: TaskRecord, attempt: Attempt): TaskRecord {
  const attempts = record.attempts.filter(a => a.n !== attempt.n)
  attempts.push(compact(attempt))
  attempts.sort((a, b) => a.n - b.n)
  return { ...record, attempts }
}

export function totalCost (record: TaskRecord): number {
  return record.attempts.reduce((sum, a) => sum + (a.costUsd ?? 0), 0)
}

function comparePeerEpoch (aEpoch: number, aPeer: string, bEpoch: number, bPeer: string): number {
  if (aEpoch !== bEpoch) return aEpoch - bEpoch
  return aPeer < bPeer ? -1 : aPeer > bPeer ? 1 : 0
}

function mergeAttempt (a: Attempt, b: Attempt): Attempt {
  if (a.node !== b.node || a.coord !== b.coord || a.epoch !== b.epoch) {
    const c = comparePeerEpoch(a.epoch, a.coord, b.epoch, b.coord)
    if (c !== 0) return c > 0 ? a : b
    return a.node > b.node ? a : b
  }
  const ra = ATTEMPT_RANK[a.status]
  const rb = ATTEMPT_RANK[b.status]
  let winner: Attempt
  let other: Attempt
  if (ra !== rb) {
    [winner, other] = ra > rb ? [a, b] : [b, a]
  } else if (a.status !== b.status) {
    [winner, other] = a.status > b.status ? [a, b] : [b, a]
  } else {
    // Same status from two writers (the runner and its coordinator): keep the fuller one, then
    // the one whose encoding sorts first, so both orders of merging agree.
    const ka = Object.keys(a).length
    const kb = Object.keys(b).length
    if (ka !== kb) return ka > kb ? a : b
    return digestOf(a) <= digestOf(b) ? a : b
  }
  // The runner's later report may lack what an earlier one said (its start time, its cwd).
  const merged: Attempt = { ...winner }
  if (merged.startedAt === undefined && other.startedAt !== undefined) merged.startedAt = other.startedAt
  if (merged.cwd === undefined && other.cwd !== undefined) merged.cwd = other.cwd
  if (merged.resumed === undefined && other.resumed !== undefined) merged.resumed = other.resumed
  if (merged.fromCheckpoint === undefined && other.fromCheckpoint !== undefined) merged.fromCheckpoint = other.fromCheckpoint
  return merged
}

function earlier<T extends { at: number, by: string }> (a: T | undefined, b: T | undefined): T | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  if (a.at !== b.at) return a.at < b.at ? a : b
  if (a.by !== b.by) return a.by < b.by ? a : b
  return digestOf(a) <= digestOf(b) ? a : b
}

function mergeFinal (a: TaskRecord['final'], b: TaskRecord['final']): TaskRecord['final'] {
  if (a === undefined) return b
  if (b === undefined) return a
  const ra = FINAL_RANK[a.status]
  const rb = FINAL_RANK[b.status]
  if (ra !== rb) return ra > rb ? a : b
  return earlier(a, b)
}

/** Merges two copies of one task's record. Pure; returns `a` itself when `b` adds nothing. */
export function mergeRecords (a: TaskRecord, b: TaskRecord): TaskRecord {
  if (a.id !== b.id) throw new Error(`cannot merge records of ${a.id} and ${b.id}`)
  let spec = a.spec
  if (a.spec !== b.spec && digestOf(a.spec) !== digestOf(b.spec)) {
    const c = a.spec.createdAt - b.spec.createdAt || (a.spec.createdBy < b.spec.createdBy ? -1 : a.spec.createdBy > b.spec.createdBy ? 1 : 0)
    spec = c < 0 ? a.spec : c > 0 ? b.spec : (digestOf(a.spec) < digestOf(b.spec) ? a.spec : b.spec)
  }
  const c = comparePeerEpoch(a.coord.epoch, a.coord.peer, b.coord.epoch, b.coord.peer)
  const coord = c > 0 ? a.coord : c < 0 ? b.coord : (a.coord.at <= b.coord.at ? a.coord : b.coord)
  const byN = new Map<number, Attempt>()
  for (const attempt of [...a.attempts, ...b.attempts]) {
    const seen = byN.get(attempt.n)
    byN.set(attempt.n, seen === undefined ? attempt : mergeAttempt(seen, attempt))
  }
  const attempts = [...byN.values()].sort((x, y) => x.n - y.n)
  const merged: TaskRecord = { v: RECORD_VERSION, id: a.id, spec, coord, attempts }
  const cancel = earlier(a.cancel, b.cancel)
  if (cancel !== undefined) merged.cancel = cancel
  const final = mergeFinal(a.final, b.final)
  if (final !== undefined) merged.final = final
  return digestOf(merged) === digestOf(a) ? a : merged
}

const digests = new WeakMap<object, string>()

/** 16 hex characters of SHA-256 over the canonical (dag-cbor) encoding: equal state, equal digest. */
export function digestOf (value: object): string {
  let digest = digests.get(value)
  if (digest === undefined) {
    digest = createHash('sha256').update(dagCbor.encode(value)).digest('hex').slice(0, 16)
    digests.set(value, digest)
  }
  return digest
}

/** Drops undefined fields (dag-cbor refuses them) and non-finite numbers, one level deep. */
export function compact<T extends object> (value: T): T {
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue
    if (typeof v === 'number' && !Number.isFinite(v)) continue
    out[key] = v
  }
  return out as T
}

/** The last `max` characters, marked as cut. */
export function tail (text: string | undefined, max: number): string | undefined {
  if (text === undefined || text === '') return undefined
  return text.length <= max ? text : `…[${text.length - max} characters cut]${text.slice(-max)}`
}

/** The first `max` characters, marked as cut. */
export function head (text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined
  return text.length <= max ? text : `${text.slice(0, max)}[…${text.length - max} characters cut]`
}

const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/

export function taskIdProblem (id: string): string | undefined {
  return TASK_ID.test(id) ? undefined : 'a task id is 1-128 characters of A-Z a-z 0-9 _ . : - starting with a letter or digit'
}

/**
 * The id of the task an event's action starts: the same delivery routed on any node, any number
 * of times, names the same task, so it is submitted once mesh-wide.
 */
export function eventTaskId (source: string, eventId: string, action: string | number): string {
  return `ev-${createHash('sha256').update(`${source}\0${eventId}\0${String(action)}`).digest('hex').slice(0, 24)}`
}

/**
 * The checkpoint stream of a conversation: `conversation/` and the key, with `#` turned into
 * `/` and any other character a stream name cannot hold into `_` (`acme/widgets#42` →
 * `conversation/acme/widgets/42`). Over-long keys are hashed.
 */
export function conversationStream (key: string): string {
  let name = key.replace(/#/g, '/').replace(/[^A-Za-z0-9._/-]/g, '_').replace(/\/{2,}/g, '/').replace(/\.{2,}/g, '_').replace(/^\/+|\/+$/g, '')
  if (name === '' || name.length > 100) name = `h-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`
  return `conversation/${name}`
}

/** owner/repo and the issue number a task works on, from its issue, repo URL and conversation key. */
export function parseRepoUrl (url: string): { owner: string, repo: string } | undefined {
  const match = /[/:]([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/?$/.exec(url)
  if (match === null) return undefined
  return { owner: match[1] as string, repo: match[2] as string }
}

export function parseConversationIssue (key: string | undefined): { owner: string, repo: string, number: number } | undefined {
  if (key === undefined) return undefined
  const match = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)#([1-9][0-9]{0,9})$/.exec(key)
  if (match === null) return undefined
  return { owner: match[1] as string, repo: match[2] as string, number: Number(match[3]) }
}
