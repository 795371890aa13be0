import type { Action } from '../webhooks/index.ts'
import { isTerminal, type ActionState, type ActionStateName, type EventRecord } from './record.ts'

/** What became of one action, as clients see it (times as ISO strings). */
export interface ActionView {
  index: number
  kind: Action['kind']
  state: ActionStateName
  /** Takeovers so far (0 when the first claim ran it). */
  attempt: number
  by: string | null
  claimedAt: string | null
  startedAt: string | null
  finishedAt: string | null
  result: unknown
  error: string | null
}

/**
 * Overall: `recorded` (no actions: a ping, a message), `skipped` (a rule skipped it), `pending`,
 * `running`, `done` (every action succeeded) or `failed` (some action failed or ended unknown).
 */
export type EventStatus = 'recorded' | 'skipped' | 'pending' | 'running' | 'done' | 'failed'

export interface EventView {
  event: {
    key: string
    source: string
    id: string
    provider: string
    type: string
    action: string | null
    summary: string
    deliveryId: string | null
    repo: string | null
    receivedAt: string
    receivedBy: string
    payload: unknown
  }
  routing: { rule: string, skipped: string | null, actions: Action[] }
  actions: ActionView[]
  status: EventStatus
  /** The member that runs (or would run) this event's unfinished actions, as this node sees it. */
  owner: string | null
}

export interface EventSummary {
  key: string
  source: string
  id: string
  provider: string
  type: string
  summary: string
  receivedAt: string
  receivedBy: string
  rule: string
  status: EventStatus
  actions: Array<{ kind: Action['kind'], state: ActionStateName }>
}

export function statusOf (record: EventRecord): EventStatus {
  if (record.base.decision.skipped !== undefined) return 'skipped'
  if (record.actions.length === 0) return 'recorded'
  if (record.actions.every(isTerminal)) return record.actions.every(a => a.state === 'succeeded') ? 'done' : 'failed'
  return record.actions.some(a => a.state === 'claimed' || a.state === 'started') ? 'running' : 'pending'
}

const iso = (ms: number | undefined): string | null => ms === undefined ? null : new Date(ms).toISOString()

function actionView (state: ActionState, index: number, action: Action): ActionView {
  return {
    index,
    kind: action.kind,
    state: state.state,
    attempt: state.gen,
    by: state.by ?? null,
    claimedAt: iso(state.claimedAt),
    startedAt: iso(state.startedAt),
    finishedAt: iso(state.finishedAt),
    result: state.result ?? null,
    error: state.error ?? null
  }
}

export function toView (key: string, record: EventRecord, owner: string | undefined): EventView {
  const { base } = record
  return {
    event: {
      key,
      source: base.source,
      id: base.id,
      provider: base.event.provider,
      type: base.event.type,
      action: base.event.action ?? null,
      summary: base.event.summary,
      deliveryId: base.event.deliveryId ?? null,
      repo: base.event.repo ?? null,
      receivedAt: new Date(base.receivedAt).toISOString(),
      receivedBy: base.receivedBy,
      payload: base.payload
    },
    routing: { rule: base.decision.rule, skipped: base.decision.skipped ?? null, actions: base.decision.actions },
    actions: record.actions.map((state, i) => actionView(state, i, base.decision.actions[i] as Action)),
    status: statusOf(record),
    owner: record.actions.every(isTerminal) ? null : owner ?? null
  }
}

export function toSummary (key: string, record: EventRecord): EventSummary {
  const { base } = record
  return {
    key,
    source: base.source,
    id: base.id,
    provider: base.event.provider,
    type: base.event.type,
    summary: base.event.summary,
    receivedAt: new Date(base.receivedAt).toISOString(),
    receivedBy: base.receivedBy,
    rule: base.decision.rule,
    status: statusOf(record),
    actions: record.actions.map((state, i) => ({ kind: (base.decision.actions[i] as Action).kind, state: state.state }))
  }
}
