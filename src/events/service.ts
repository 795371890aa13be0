import { randomUUID } from 'node:crypto'
import type { Logger } from '../logger.ts'
import type { Mesh } from '../mesh/index.ts'
import type { KeyValueStore } from '../store/index.ts'
import { createRouter, type CronConfig, type RouteInput, type RoutingDecision, type WebhooksConfig } from '../webhooks/index.ts'
import { createActionRunner, type CheckpointPoster, type TaskSink } from './actions.ts'
import type { EventsConfig } from './config.ts'
import { CronScheduler, type CronJobStatus } from './cron-scheduler.ts'
import { Dispatcher, type DispatcherCounters, type MembershipView } from './dispatcher.ts'
import { eventError } from './errors.ts'
import { MESSAGE_SOURCE, messageOf, parseMessageInput, type Message } from './messages.ts'
import { baseJson, eventKey, initialActions, type EventBase, type EventInfo } from './record.ts'
import { EventReplicator } from './replication.ts'
import { EventStore, timeCursor } from './store.ts'
import { toSummary, toView, type EventSummary, type EventView } from './view.ts'

export interface EventServiceComponents {
  mesh: Mesh
  membership: MembershipView
  /** The events' own key space in the node's store (a sublevel). */
  db: KeyValueStore
  logger: Logger
  checkpoints?: CheckpointPoster
  tasks?: TaskSink
  now?: () => number
}

export interface EventServiceInit {
  webhooks: WebhooksConfig
  cron: CronConfig
  events: EventsConfig
  /** True when the node has bootstrap peers to join (see events.aloneAfterMs). @default false */
  expectPeers?: boolean
}

export interface IngestOptions {
  /** Acknowledge only once this many peers hold the event durably. @default 0 */
  ackReplicas?: number
}

export interface IngestResult {
  status: 'queued' | 'duplicate_ignored'
  /** The sender's event id (what the HTTP answer calls `event_id`). */
  eventId: string
  key: string
  /** Peers that confirmed a durable copy (ackReplicas). */
  confirmedBy: string[]
}

export interface ListOptions {
  source?: string
  limit?: number
  /** Where the previous page ended: its `next`. */
  cursor?: string
}

/** An event to store: a routed webhook, a cron fire or a message. */
export interface IngestInput {
  source: string
  id: string
  event: EventInfo
  payload: unknown
  /** `payload` as the sender's JSON text, when it came as JSON: stored as it came. */
  payloadJson?: string
}

export interface EventsHealth {
  stored: number
  ready: boolean
  queues: {
    /** Events with unfinished actions, mesh-wide as this node knows them. */
    openEvents: number
    runningActions: number
    waitingActions: number
    gossipRecords: number
    gossipActions: number
    gossipAcks: number
    orphanActionUpdates: number
    syncsInFlight: number
  }
  actions: DispatcherCounters
  replication: EventReplicator['counters'] & { rejected: Record<string, number> }
  cron: CronJobStatus[]
}

export interface WebhooksHealth {
  accepted: number
  duplicates: number
  /** Refused requests by error code: nothing of them was stored. */
  rejected: Record<string, number>
}

export interface EventService {
  readonly peerId: string
  start: () => Promise<void>
  stop: () => Promise<void>
  /** Stores a routed event durably, gossips it, and answers as the webhook route does. */
  ingest: (input: IngestInput, options?: IngestOptions) => Promise<IngestResult>
  /** Counts a refused webhook request (for health and metrics). */
  countRejected: (code: string) => void
  /** By the sender's id; `source` disambiguates ids that several sources used. EVENT_NOT_FOUND, EVENT_AMBIGUOUS. */
  get: (id: string, source?: string) => Promise<EventView>
  list: (options?: ListOptions) => Promise<{ events: EventSummary[], next: string | null }>
  sendMessage: (input: unknown) => Promise<Message>
  /** Messages to this node (or to all), newest first; every message with `all`. */
  messages: (options?: { all?: boolean, limit?: number, cursor?: string }) => Promise<{ messages: Message[], next: string | null }>
  health: () => EventsHealth
  webhooksHealth: () => WebhooksHealth
  readonly store: EventStore
  readonly replicator: EventReplicator
  readonly dispatcher: Dispatcher
  readonly cron: CronScheduler
}

const LIST_DEFAULT = 50
const LIST_MAX = 1000
/** Headroom around the largest webhook body for the record around it (event info, decision, states). */
const RECORD_HEADROOM_BYTES = 256 * 1024

export function createEventService (c: EventServiceComponents, init: EventServiceInit): EventService {
  const log = c.logger.child({ module: 'events' })
  const now = c.now ?? Date.now
  const peerId = c.mesh.peerId
  const router = createRouter(init.webhooks)
  const store = new EventStore(c.db, c.logger, { retentionMs: init.webhooks.dedupeRetentionMs, now })
  // Messages up to 64 KiB of body plus context: bounded by the same limit as webhooks.
  const maxRecordBytes = Math.max(init.webhooks.bodyLimitBytes * 2, 1024 * 1024) + RECORD_HEADROOM_BYTES
  const replicator = new EventReplicator({ mesh: c.mesh, store, logger: c.logger }, {
    inlineMaxBytes: init.events.inlineMaxBytes,
    maxRecordBytes,
    syncIntervalMs: init.events.syncIntervalMs,
    requestTimeoutMs: init.events.requestTimeoutMs,
    gossipBatchMs: init.events.gossipBatchMs
  })
  const runner = createActionRunner({ logger: c.logger, ...(c.checkpoints === undefined ? {} : { checkpoints: c.checkpoints }), ...(c.tasks === undefined ? {} : { tasks: c.tasks }) }, {
    commands: init.webhooks,
    commandOutputMaxBytes: init.events.commandOutputMaxBytes,
    peerId
  })
  const dispatcher = new Dispatcher({
    peerId,
    store,
    replicator,
    membership: c.membership,
    connectedPeers: () => { try { return c.mesh.connectedPeers() } catch { return [] } },
    runner,
    logger: c.logger,
    now
  }, { ...init.events, expectPeers: init.expectPeers ?? false })
  const webhookCounters = { accepted: 0, duplicates: 0, rejected: {} as Record<string, number> }
  let pruneTimer: NodeJS.Timeout | undefined
  let stopped: Promise<void> | undefined

  const ingest = async (input: IngestInput, options: IngestOptions = {}, decision?: RoutingDecision): Promise<IngestResult> => {
    const key = eventKey(input.source, input.id)
    if (store.has(key)) {
      // The first copy may still be on its way to disk: "duplicate" promises it is safe too.
      await store.durable(key)
      return { status: 'duplicate_ignored', eventId: input.id, key, confirmedBy: [] }
    }
    // Routing is pure and takes microseconds: the stored record says at once what will be done.
    const routed = decision ?? router.route(input as RouteInput)
    const base: EventBase = { v: 1, source: input.source, id: input.id, receivedAt: now(), receivedBy: peerId, event: input.event, payload: input.payload, decision: routed }
    const { outcome, durable } = store.merge(key, { base, actions: initialActions(routed, peerId, base.receivedAt) }, { baseBytes: baseJson(base, input.payloadJson) })
    if (outcome !== 'added') {
      await durable
      return { status: 'duplicate_ignored', eventId: input.id, key, confirmedBy: [] }
    }
    // Gossip does not wait for this node's disk: the fsync and the first hop overlap.
    void replicator.announce(key)
    const wanted = options.ackReplicas ?? 0
    let confirmedBy: string[] = []
    if (wanted > 0) {
      const peers = c.membership.list().filter(m => !m.self && m.state === 'alive' && m.connected).map(m => m.peerId)
      const [, confirmed] = await Promise.all([durable, replicator.replicate(key, peers, wanted, init.events.ackTimeoutMs)])
      confirmedBy = confirmed
    } else {
      await durable
    }
    log.debug({ key, type: input.event.type, rule: routed.rule, actions: routed.actions.length }, 'event stored')
    return { status: 'queued', eventId: input.id, key, confirmedBy }
  }

  const findKey = (id: string, source?: string): string => {
    if (source !== undefined) {
      const key = eventKey(source, id)
      if (store.has(key)) return key
      throw eventError('EVENT_NOT_FOUND', `no event ${JSON.stringify(id.slice(0, 200))} from source ${source} on this node`)
    }
    const suffix = `/${id}`
    const found: string[] = []
    for (const key of store.keys()) {
      if (key.endsWith(suffix) && key.indexOf('/') === key.length - suffix.length) found.push(key)
    }
    if (found.length === 0) throw eventError('EVENT_NOT_FOUND', `no event ${JSON.stringify(id.slice(0, 200))} on this node (it may not have replicated here yet)`)
    if (found.length > 1) {
      const sources = found.map(k => k.slice(0, k.indexOf('/')))
      throw eventError('EVENT_AMBIGUOUS', `several sources sent an event ${JSON.stringify(id.slice(0, 200))}: ${sources.join(', ')}; name one with ?source=`, { details: { sources } })
    }
    return found[0] as string
  }

  const cron = new CronScheduler({
    peerId,
    store,
    ready: () => dispatcher.ready(),
    ownerOf: (key) => dispatcher.ownerOf(key),
    enqueue: async (input) => await ingest(input),
    logger: c.logger,
    now
  }, { jobs: init.cron.jobs, tickMs: init.events.cronTickMs })

  const clampLimit = (limit: number | undefined): number => {
    const n = limit ?? LIST_DEFAULT
    if (!Number.isInteger(n) || n < 1 || n > LIST_MAX) throw eventError('EVENT_BAD_QUERY', `limit must be an integer from 1 to ${LIST_MAX}`)
    return n
  }

  return {
    peerId,
    store,
    replicator,
    dispatcher,
    cron,

    async start () {
      await store.open()
      replicator.start()
      dispatcher.start()
      cron.start()
      pruneTimer = setInterval(() => { void store.prune().catch((err: Error) => { log.warn({ err: err.message }, 'event pruning failed') }) }, init.events.pruneIntervalMs)
      pruneTimer.unref()
      void store.prune().catch(() => {})
    },

    async stop () {
      stopped ??= (async () => {
        clearInterval(pruneTimer)
        cron.stop()
        await dispatcher.stop()
        replicator.stop()
        await store.close()
      })()
      await stopped
    },

    async ingest (input, options) {
      const result = await ingest(input, options)
      if (input.source !== 'cron' && input.source !== MESSAGE_SOURCE) {
        if (result.status === 'queued') webhookCounters.accepted++
        else webhookCounters.duplicates++
      }
      return result
    },

    countRejected (code) {
      webhookCounters.rejected[code] = (webhookCounters.rejected[code] ?? 0) + 1
    },

    async get (id, source) {
      const key = findKey(id, source)
      const record = await store.getRecord(key)
      if (record === undefined) throw eventError('EVENT_NOT_FOUND', `event ${key} is gone (pruned)`)
      return toView(key, record, dispatcher.ownerOf(key))
    },

    async list (options = {}) {
      const limit = clampLimit(options.limit)
      const page = await store.listKeys({ ...(options.source === undefined ? {} : { source: options.source }), ...(options.cursor === undefined ? {} : { cursor: options.cursor }), limit })
      const records = await store.getRecords(page.keys)
      const events: EventSummary[] = []
      records.forEach((record, i) => { if (record !== undefined) events.push(toSummary(page.keys[i] as string, record)) })
      return { events, next: page.cursor ?? null }
    },

    async sendMessage (input) {
      const message = parseMessageInput(input)
      const members = c.membership.list()
      if (message.to !== 'all' && !members.some(m => m.peerId === message.to)) {
        throw eventError('MESSAGE_UNKNOWN_PEER', `no member ${message.to} is known to this node: address a peer ID from 'idlemesh health', or all`)
      }
      const id = randomUUID()
      const sentAt = new Date(now()).toISOString()
      const payload = { from: peerId, sentAt, ...message }
      const summary = `[${message.priority}] ${message.type}: ${message.subject} (to ${message.to === 'all' ? 'all' : message.to.slice(-8)})`
      await ingest({
        source: MESSAGE_SOURCE,
        id,
        event: { provider: 'message', type: message.type, summary: summary.slice(0, 200) },
        payload
      }, {}, { rule: 'message', actions: [] })
      return messageOf(id, payload) as Message
    },

    async messages (options = {}) {
      const limit = clampLimit(options.limit)
      const out: Message[] = []
      let cursor = options.cursor
      // Messages to others are filtered out after reading: page on until the page is full.
      for (;;) {
        const page = await store.listKeys({ source: MESSAGE_SOURCE, ...(cursor === undefined ? {} : { cursor }), limit })
        const records = await store.getRecords(page.keys)
        for (const [i, record] of records.entries()) {
          if (record === undefined) continue
          const message = messageOf(record.base.id, record.base.payload)
          if (message === undefined) continue
          if (options.all !== true && message.to !== 'all' && message.to !== peerId) continue
          out.push(message)
          if (out.length >= limit) {
            // Continue right after this message, even if the page it came from held more.
            const meta = store.meta(page.keys[i] as string)
            return { messages: out, next: meta === undefined ? null : timeCursor(meta.receivedAt, page.keys[i] as string) }
          }
        }
        if (page.cursor === undefined) return { messages: out, next: null }
        cursor = page.cursor
      }
    },

    health () {
      const depth = dispatcher.depth
      const queue = replicator.queueDepth
      return {
        stored: store.size,
        ready: dispatcher.ready(),
        queues: {
          openEvents: depth.open,
          runningActions: depth.running,
          waitingActions: depth.waiting,
          gossipRecords: queue.records,
          gossipActions: queue.actions,
          gossipAcks: queue.acks,
          orphanActionUpdates: queue.orphans,
          syncsInFlight: queue.syncing
        },
        actions: { ...dispatcher.counters },
        replication: { ...replicator.counters, rejected: { ...replicator.rejected } },
        cron: cron.status()
      }
    },

    webhooksHealth () {
      return { accepted: webhookCounters.accepted, duplicates: webhookCounters.duplicates, rejected: { ...webhookCounters.rejected } }
    }
  }
}
