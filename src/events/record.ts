import { hash } from 'node:crypto'
import { z } from 'zod'
import type { Action, RoutingDecision } from '../webhooks/index.ts'

/**
 * An event as every node stores it: the part fixed when it was received (`base`) and what became
 * of each of its actions (`actions`, one state per action of the routing decision).
 *
 * The same event may be received by two nodes at once; each stores its own copy and both copies
 * spread. Copies merge deterministically, whatever the order they meet in:
 * - the base with the earliest (receivedAt, receivedBy) wins, so every node keeps the same one;
 * - action states merge one by one by `pickState`, a join that only moves forward.
 */

export const RECORD_VERSION = 1

export type ActionKind = Action['kind']

/**
 * pending → claimed (an owner reserved it) → started (it is running; for a command the side
 * effect may have happened) → succeeded | failed | unknown (its runner vanished while it was
 * started, and re-running it could repeat a side effect).
 */
export type ActionStateName = 'pending' | 'claimed' | 'started' | 'succeeded' | 'failed' | 'unknown'

export interface ActionState {
  state: ActionStateName
  /**
   * Takeover generation: raised when a claim is released or taken over from a node that died
   * or restarted, so the new claim outranks the stale one everywhere.
   */
  gen: number
  /** Peer ID of the node that claimed, ran or finished it. */
  by?: string
  /** Which process run of `by` claimed it (a restarted node must not mistake it for its own). */
  run?: string
  claimedAt?: number
  startedAt?: number
  finishedAt?: number
  /** What the action produced: a checkpoint id, a task record, a command's JSON output. */
  result?: unknown
  error?: string
}

export interface EventInfo {
  /** github, stripe, standard, generic, cron, or message. */
  provider: string
  type: string
  action?: string
  deliveryId?: string
  repo?: string
  summary: string
}

export interface EventBase {
  v: typeof RECORD_VERSION
  /** The configured source name, `cron`, or `message`. */
  source: string
  /** The sender's event id (see webhooks/event-id.ts), unique per source. */
  id: string
  /** Clock of the receiving node, ms since the epoch. */
  receivedAt: number
  receivedBy: string
  event: EventInfo
  payload: unknown
  decision: RoutingDecision
}

export interface EventRecord {
  base: EventBase
  actions: ActionState[]
}

const TERMINAL: ReadonlySet<ActionStateName> = new Set(['succeeded', 'failed', 'unknown'])
const PROGRESS: Record<ActionStateName, number> = { pending: 0, claimed: 1, started: 2, succeeded: 3, failed: 3, unknown: 3 }

export function isTerminal (state: ActionState): boolean {
  return TERMINAL.has(state.state)
}

/**
 * The key an event is stored, deduplicated and owned by. Source names never contain `/`, so
 * the first `/` separates the two parts whatever the id holds.
 */
export function eventKey (source: string, id: string): string {
  return `${source}/${id}`
}

export function splitKey (key: string): { source: string, id: string } {
  const cut = key.indexOf('/')
  return { source: key.slice(0, cut), id: key.slice(cut + 1) }
}

/**
 * Rendezvous rank of `peerId` for `key`: the alive member with the lowest rank owns the event.
 * Every node computes the same ranks, and a member leaving moves only the events it owned.
 */
export function rank (peerId: string, key: string): string {
  return hash('sha256', `${peerId}\n${key}`, 'hex').slice(0, 16)
}

/** The candidate with the lowest rank for `key`, or undefined when there is none. */
export function ownerOf (key: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestRank = ''
  for (const peerId of candidates) {
    const r = rank(peerId, key)
    if (best === undefined || r < bestRank || (r === bestRank && peerId < best)) {
      best = peerId
      bestRank = r
    }
  }
  return best
}

/** True when base `a` should be kept over base `b`: the earliest receipt, then the lower peer ID. */
export function preferBase (a: Pick<EventBase, 'receivedAt' | 'receivedBy'>, b: Pick<EventBase, 'receivedAt' | 'receivedBy'>): boolean {
  if (a.receivedAt !== b.receivedAt) return a.receivedAt < b.receivedAt
  return a.receivedBy <= b.receivedBy
}

/**
 * The join of two states of the same action (commutative, associative, idempotent), so copies
 * converge whatever the order they meet in:
 * - a finished state beats an unfinished one (it really happened);
 * - between unfinished ones, the higher takeover generation, then the further progress
 *   (a started action cannot be un-started), then the claimant ranked first for the event;
 * - between two finished ones (only after a lost race), the earlier finish.
 */
export function pickState (a: ActionState, b: ActionState, key: string): ActionState {
  const ta = isTerminal(a)
  const tb = isTerminal(b)
  if (ta !== tb) return ta ? a : b
  if (ta) {
    if ((a.finishedAt ?? 0) !== (b.finishedAt ?? 0)) return (a.finishedAt ?? 0) < (b.finishedAt ?? 0) ? a : b
    return stateOrder(a, b, key) <= 0 ? a : b
  }
  if (a.gen !== b.gen) return a.gen > b.gen ? a : b
  if (PROGRESS[a.state] !== PROGRESS[b.state]) return PROGRESS[a.state] > PROGRESS[b.state] ? a : b
  return stateOrder(a, b, key) <= 0 ? a : b
}

function stateOrder (a: ActionState, b: ActionState, key: string): number {
  if (a.by !== b.by) {
    if (a.by === undefined) return 1
    if (b.by === undefined) return -1
    const ra = rank(a.by, key)
    const rb = rank(b.by, key)
    if (ra !== rb) return ra < rb ? -1 : 1
    return a.by < b.by ? -1 : 1
  }
  const sa = canonicalState(a)
  const sb = canonicalState(b)
  return sa === sb ? 0 : sa < sb ? -1 : 1
}

/** Merges two action-state lists of the same decision, position by position. */
export function mergeActions (a: ActionState[], b: ActionState[], key: string): ActionState[] {
  const out: ActionState[] = []
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i]
    const y = b[i]
    out.push(x === undefined ? y as ActionState : y === undefined ? x : pickState(x, y, key))
  }
  return out
}

export function sameActions (a: ActionState[], b: ActionState[]): boolean {
  return a.length === b.length && a.every((s, i) => canonicalState(s) === canonicalState(b[i] as ActionState))
}

/**
 * An action state as text with its fields in a fixed order, whoever built the object (hashing
 * and comparing run on every merge, so this avoids sorting keys but for a result object).
 */
export function canonicalState (s: ActionState): string {
  return JSON.stringify([s.state, s.gen, s.by ?? null, s.run ?? null, s.claimedAt ?? null, s.startedAt ?? null, s.finishedAt ?? null, s.result === undefined ? null : stableJson(s.result), s.error ?? null])
}

/** JSON with object keys sorted, so equal values have equal text whoever built them. */
export function stableJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => x < y ? -1 : x > y ? 1 : 0))
  })
}

/**
 * The initial action states of a decision, as its receiver records them: every action pending,
 * except `noop`, which has nothing to run and so is done the moment it is routed (no claim, no
 * extra write, no extra gossip for the pings and unrouted events that make up much of a feed).
 */
export function initialActions (decision: RoutingDecision, receivedBy: string, receivedAt: number): ActionState[] {
  return decision.actions.map(action => action.kind === 'noop'
    ? { state: 'succeeded', gen: 0, by: receivedBy, finishedAt: receivedAt }
    : { state: 'pending', gen: 0 })
}

/**
 * 8 bytes, as 16 hex digits, that change whenever the record's mergeable state changes:
 * anti-entropy compares XORs of these per receipt-time partition to find what differs without
 * listing everything.
 */
export function versionHash (key: string, receivedAt: number, receivedBy: string, actions: ActionState[]): string {
  return hash('sha256', `${key}\n${receivedAt}\n${receivedBy}\n${actions.map(canonicalState).join('\n')}`, 'hex').slice(0, 16)
}

// ---- what a peer may send: checked before anything is stored ----

const shortText = (max: number) => z.string().max(max)
const peer = z.string().min(1).max(128)
const time = z.number().int().min(0)

const actionStateSchema = z.object({
  state: z.enum(['pending', 'claimed', 'started', 'succeeded', 'failed', 'unknown']),
  gen: z.number().int().min(0).max(1_000_000),
  by: peer.optional(),
  run: shortText(64).optional(),
  claimedAt: time.optional(),
  startedAt: time.optional(),
  finishedAt: time.optional(),
  result: z.unknown().optional(),
  error: shortText(4096).optional()
})

// Rendered actions are checked loosely: rendered text may hold anything the payload held.
const renderedActionSchema = z.object({ kind: z.enum(['noop', 'checkpoint', 'task', 'command']) }).catchall(z.unknown())

// Strict: a node stores a peer's base JSON as it came (see readRecordJson), so nothing may be
// in it that validation did not see.
const baseSchema = z.strictObject({
  v: z.literal(RECORD_VERSION),
  source: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  id: z.string().min(1).max(1024),
  receivedAt: time,
  receivedBy: peer,
  event: z.strictObject({
    provider: shortText(32),
    type: shortText(512),
    action: shortText(256).optional(),
    deliveryId: shortText(1024).optional(),
    repo: shortText(512).optional(),
    summary: shortText(1024)
  }),
  payload: z.unknown(),
  decision: z.strictObject({
    rule: shortText(256),
    actions: z.array(renderedActionSchema).max(64),
    skipped: shortText(4096).optional()
  })
})

// Compiled ahead of time (zod's generated fast path): every node checks every event it receives.
const recordSchema = z.compile(z.object({ base: baseSchema, actions: z.array(actionStateSchema).max(64) })
  .refine(r => r.actions.length === r.base.decision.actions.length, 'one action state per routed action'))

const RECORD_HEAD = Buffer.from('{"base":')
const RECORD_MIDDLE = Buffer.from(',"actions":')
const RECORD_TAIL = Buffer.from('}')

/**
 * The JSON of `base` as a node stores it. With `payloadJson` (the payload's JSON text as the
 * sender wrote it) that text is spliced in rather than the parsed payload serialised again: it
 * parses back to the same base.
 */
export function baseJson (base: EventBase, payloadJson?: string): Buffer {
  if (payloadJson === undefined) return Buffer.from(JSON.stringify(base))
  const { payload: _, decision, ...head } = base
  const text = JSON.stringify(head)
  return Buffer.from(`${text.slice(0, -1)},"payload":${payloadJson},"decision":${JSON.stringify(decision)}}`)
}

/** A record's JSON as nodes send it: the base's stored JSON, then the action states. */
export function recordJson (baseBytes: Uint8Array, actions: ActionState[]): Buffer {
  return Buffer.concat([RECORD_HEAD, baseBytes, RECORD_MIDDLE, Buffer.from(JSON.stringify(actions)), RECORD_TAIL])
}

/**
 * Parses a record's JSON (unvalidated) and, when it has recordJson's layout, also returns the
 * base's own bytes, which a node then stores as they came instead of serialising the base again.
 * The base and the states are parsed each on their own: when both are JSON values the whole is
 * exactly `{ base, actions }`, so the bytes are those of the parsed base. Any other text (another
 * layout, a separator inside a part, a repeated key) is parsed whole, as before. Throws a
 * SyntaxError when the text is not JSON.
 */
export function readRecordJson (bytes: Uint8Array): { json: unknown, baseBytes?: Buffer } {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const cut = text.lastIndexOf(RECORD_MIDDLE)
  if (cut > RECORD_HEAD.length && text.subarray(0, RECORD_HEAD.length).equals(RECORD_HEAD) && text[text.length - 1] === RECORD_TAIL[0]) {
    try {
      const base: unknown = JSON.parse(text.toString('utf8', RECORD_HEAD.length, cut))
      const actions: unknown = JSON.parse(text.toString('utf8', cut + RECORD_MIDDLE.length, text.length - 1))
      return { json: { base, actions }, baseBytes: Buffer.from(text.subarray(RECORD_HEAD.length, cut)) }
    } catch {}
  }
  return { json: JSON.parse(text.toString('utf8')) }
}

/** A record from a peer's JSON, or undefined when it is not one. */
export function parseRecord (json: unknown): EventRecord | undefined {
  const parsed = recordSchema.safeParse(json)
  return parsed.success ? parsed.data as unknown as EventRecord : undefined
}

export function parseActionStates (json: unknown): ActionState[] | undefined {
  const parsed = z.array(actionStateSchema).max(64).safeParse(json)
  return parsed.success ? parsed.data as ActionState[] : undefined
}
