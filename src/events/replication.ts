import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { Logger } from '../logger.ts'
import type { Mesh, MessageVerdict, PubsubMessage } from '../mesh/index.ts'
import { IdlemeshError } from '../errors.ts'
import { eventError } from './errors.ts'
import { parseActionStates, parseRecord, readRecordJson, recordJson, type ActionState, type EventRecord } from './record.ts'
import { PARTITION_MS, type EventStore } from './store.ts'
import {
  EVENTS_TOPIC, PUSH_PROTOCOL, SYNC_PROTOCOL, WIRE_VERSION, decodeGossip, decodePush, decodePushReply, decodeSyncFrame,
  decodeParts, decodePartWant, decodeSyncRequest, decodeVersions, decodeWant, encodeGossip, encodeWire, SYNC_CHUNK, type GossipMessage
} from './wire.ts'

export interface EventReplicationInit {
  /** Events up to this size ride in gossip; larger ones are announced and pulled, bytes. */
  inlineMaxBytes: number
  /** Largest record accepted from a peer, bytes. */
  maxRecordBytes: number
  /** Anti-entropy with every connected peer this often, ms. */
  syncIntervalMs: number
  /** Bound on one sync or push exchange, ms. */
  requestTimeoutMs: number
  /** Under load, at most one gossip message of each kind per this many ms. */
  gossipBatchMs: number
}

export interface EventReplicationComponents {
  mesh: Mesh
  store: EventStore
  logger: Logger
}

/** A gossip message stays well under gossipsub's 4 MiB frame limit. */
const BATCH_MAX_BYTES = 512 * 1024
/** Action updates for events not held yet, kept until the event arrives (bounded). */
const MAX_ORPHANS = 10_000
const ITEM_OVERHEAD = 16
const MAX_SYNC_FAILURES = 2
/** Receipts this recent are left to gossip by the periodic anti-entropy rounds. */
const FRESH_MS = 30_000
const RETRY_MS = 500

/**
 * Moves events between nodes. Three paths, all ending in `store.merge`, which is idempotent, so
 * an event may arrive by any number of them in any order:
 * - gossip: every new event, and every step of its actions, batched per turn of the event loop
 *   (signing a gossip message is the expensive part, so under load one carries many events);
 * - push: a direct stream to peers that confirm a durable copy, for sources with `ackReplicas`;
 * - anti-entropy: on every new connection and periodically, each node compares digests per
 *   hour and then per 10 s of receipt with each peer and pulls what differs, so a node that was
 *   down, partitioned or killed right after its 202 converges with the others.
 */
export class EventReplicator {
  readonly rejected: Record<string, number> = {}
  private readonly c: EventReplicationComponents
  private readonly init: EventReplicationInit
  private readonly log: Logger
  private outgoing: { items: Uint8Array[], ack: string[], bytes: number } = { items: [], ack: [], bytes: 0 }
  private outgoingActions = new Map<string, Uint8Array>()
  private outgoingActionBytes = 0
  private pendingAcks: string[] = []
  private flushScheduled = false
  private lastFlushAt = -Infinity
  private lastFlushItems = 0
  private readonly ackListeners = new Set<(from: string, keys: string[]) => void>()
  private readonly orphans = new Map<string, ActionState[]>()
  private readonly syncing = new Map<string, Promise<number>>()
  /** Peers this process has completed a full anti-entropy round with. */
  private readonly synced = new Set<string>()
  /** Failed rounds per peer since its last success. */
  private readonly failures = new Map<string, number>()
  private everSynced = false
  private timer?: NodeJS.Timeout
  private started = false
  private unsubscribeStore?: () => void
  private readonly onConnect = (peerId: string): void => { void this.syncWith(peerId).catch(() => {}) }
  private readonly onDisconnect = (peerId: string): void => { this.synced.delete(peerId); this.failures.delete(peerId) }
  readonly counters = { gossipIn: 0, gossipOut: 0, pulled: 0, pushedIn: 0, syncRounds: 0, syncFailures: 0 }

  constructor (components: EventReplicationComponents, init: EventReplicationInit) {
    this.c = components
    this.init = init
    this.log = components.logger.child({ module: 'event-replication' })
  }

  start (): void {
    if (this.started) return
    this.started = true
    const { mesh } = this.c
    mesh.setValidator(EVENTS_TOPIC, async (msg) => await this.validateGossip(msg), { forwardOnlyWhereNeeded: true })
    // The work happens in the validator, which also decides what gossipsub forwards.
    mesh.subscribe(EVENTS_TOPIC, () => {})
    mesh.handle(SYNC_PROTOCOL, (stream, connection) => { void this.serveSync(stream, connection.remotePeer.toString()) }, { maxInboundStreams: 64 })
    mesh.handle(PUSH_PROTOCOL, (stream, connection) => { void this.servePush(stream, connection.remotePeer.toString()) }, { maxInboundStreams: 64 })
    mesh.on('peer:connect', this.onConnect)
    mesh.on('peer:disconnect', this.onDisconnect)
    this.unsubscribeStore = this.c.store.onChange((key, outcome) => {
      if (outcome !== 'added') return
      const orphan = this.orphans.get(key)
      if (orphan === undefined) return
      this.orphans.delete(key)
      this.c.store.mergeActions(key, orphan, { sync: false })
    })
    this.timer = setInterval(() => { this.syncAll() }, this.init.syncIntervalMs)
    this.timer.unref()
    for (const peer of mesh.connectedPeers()) this.onConnect(peer)
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    clearInterval(this.timer)
    this.c.mesh.off('peer:connect', this.onConnect)
    this.c.mesh.off('peer:disconnect', this.onDisconnect)
    this.unsubscribeStore?.()
    this.flushOutgoing()
  }

  /**
   * True once this process completed an anti-entropy round with `peerId`, or failed to twice (a
   * peer that cannot sync, e.g. an older version, must not keep this node from acting forever).
   */
  hasSyncedWith (peerId: string): boolean {
    return this.synced.has(peerId) || (this.failures.get(peerId) ?? 0) >= MAX_SYNC_FAILURES
  }

  /** True once this process completed an anti-entropy round with any peer. */
  get syncedOnce (): boolean {
    return this.everSynced
  }

  get queueDepth (): { records: number, actions: number, acks: number, orphans: number, syncing: number } {
    return { records: this.outgoing.items.length, actions: this.outgoingActions.size, acks: this.pendingAcks.length, orphans: this.orphans.size, syncing: this.syncing.size }
  }

  /** Called with (peer, keys) whenever a peer confirms it holds events durably. */
  onAck (listener: (from: string, keys: string[]) => void): () => void {
    this.ackListeners.add(listener)
    return () => { this.ackListeners.delete(listener) }
  }

  /** Gossips an event this node stored or changed: the whole record. */
  async announce (key: string, wantAck = false): Promise<void> {
    const bytes = await this.recordBytes(key)
    if (bytes === undefined) return
    if (bytes.length > this.init.inlineMaxBytes) {
      void this.c.mesh.publish(EVENTS_TOPIC, encodeGossip({ v: WIRE_VERSION, k: 'ann', keys: [key] })).catch((err: Error) => { this.log.debug({ err: err.message, key }, 'event announce failed') })
      return
    }
    if (this.outgoing.bytes + bytes.length > BATCH_MAX_BYTES) this.flushOutgoing()
    this.outgoing.items.push(bytes)
    this.outgoing.bytes += bytes.length + ITEM_OVERHEAD
    if (wantAck) this.outgoing.ack.push(key)
    this.scheduleFlush()
  }

  /**
   * Gossips the action states of an event. Resolves once the message left this node (sent to
   * its peers), which the dispatcher waits for before starting a command: a claim peers never
   * heard of cannot stop them from taking over.
   */
  async announceActions (key: string, immediate = false): Promise<void> {
    const meta = this.c.store.meta(key)
    if (meta === undefined) return
    const json = Buffer.from(JSON.stringify(meta.actions))
    if (immediate) {
      await this.c.mesh.publish(EVENTS_TOPIC, encodeGossip({ v: WIRE_VERSION, k: 'act', items: [[key, json]] }))
      this.counters.gossipOut++
      return
    }
    const previous = this.outgoingActions.get(key)
    this.outgoingActionBytes += json.length - (previous?.length ?? 0)
    this.outgoingActions.set(key, json)
    if (this.outgoingActionBytes > BATCH_MAX_BYTES) this.flushOutgoing()
    else this.scheduleFlush()
  }

  /**
   * Pushes an event straight to `peers` and resolves with those that confirmed a durable copy
   * once `count` did. Rejects with WEBHOOK_REPLICAS_TIMEOUT (details: who confirmed) when they
   * do not within `timeoutMs`.
   */
  async replicate (key: string, peers: string[], count: number, timeoutMs: number): Promise<string[]> {
    const bytes = await this.recordBytes(key)
    if (bytes === undefined) throw new IdlemeshError('EVENT_NOT_FOUND', `no event ${key} to replicate`, { status: 404 })
    const confirmed = new Set<string>()
    const signal = AbortSignal.timeout(timeoutMs)
    return await new Promise<string[]>((resolve, reject) => {
      let settled = false
      let pending = peers.length
      const fail = (): void => {
        if (settled) return
        settled = true
        reject(eventError('WEBHOOK_REPLICAS_TIMEOUT', `the event is stored on this node, but only ${confirmed.size} of the ${count} peers the source's ackReplicas asks for confirmed a copy within ${timeoutMs} ms; it keeps replicating`, {
          details: { key, confirmed: confirmed.size, required: count, confirmedBy: [...confirmed] }
        }))
      }
      if (peers.length < count) { fail(); return }
      signal.addEventListener('abort', fail, { once: true })
      for (const peer of peers) {
        void this.pushTo(peer, [bytes], signal).then((keys) => {
          if (keys.includes(key)) confirmed.add(peer)
        }, (err: Error) => {
          this.log.debug({ peer, key, err: err.message }, 'push failed')
        }).finally(() => {
          pending--
          if (settled) return
          if (confirmed.size >= count) {
            settled = true
            resolve([...confirmed])
          } else if (pending === 0) {
            fail()
          }
        })
      }
    })
  }

  /**
   * Pulls from `peerId` what differs (anti-entropy) or, with `want`, those keys. Returns how
   * many records changed here. One full round per peer at a time. A round skips the last
   * FRESH_MS of receipts when `skipFresh` (the periodic rounds: gossip is still delivering
   * those, and under load comparing them key by key would cost more than it finds).
   */
  async syncWith (peerId: string, want?: string[], options: { skipFresh?: boolean } = {}): Promise<number> {
    const running = this.syncing.get(peerId)
    if (running !== undefined && want === undefined) return await running
    const run = this.pull(peerId, want, options.skipFresh === true)
    if (want === undefined) this.syncing.set(peerId, run)
    try {
      const changed = await run
      if (want === undefined) {
        this.synced.add(peerId)
        this.everSynced = true
        this.failures.delete(peerId)
        this.counters.syncRounds++
      }
      return changed
    } catch (err) {
      this.counters.syncFailures++
      if (want === undefined) {
        this.failures.set(peerId, (this.failures.get(peerId) ?? 0) + 1)
        // A first round that failed (the peer was still starting) is retried soon, not in syncIntervalMs.
        if (!this.synced.has(peerId) && this.started) setTimeout(() => { if (this.started && this.c.mesh.isConnected(peerId)) void this.syncWith(peerId).catch(() => {}) }, RETRY_MS).unref()
      }
      throw err
    } finally {
      if (this.syncing.get(peerId) === run) this.syncing.delete(peerId)
    }
  }

  private syncAll (): void {
    for (const peerId of this.c.mesh.connectedPeers()) void this.syncWith(peerId, undefined, { skipFresh: true }).catch(() => {})
  }

  private async recordBytes (key: string): Promise<Uint8Array | undefined> {
    const meta = this.c.store.meta(key)
    const base = await this.c.store.getBaseBytes(key)
    if (meta === undefined || base === undefined) return undefined
    return recordJson(base, meta.actions)
  }

  private scheduleFlush (): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    const flush = (): void => {
      this.flushScheduled = false
      this.lastFlushAt = performance.now()
      this.lastFlushItems = this.outgoing.items.length + this.outgoingActions.size
      this.flushOutgoing()
    }
    // Idle (the last message carried one item), a message goes out at the end of this turn of
    // the event loop. Busy, at most one message per gossipBatchMs: every gossip message is
    // signed, verified, decrypted and forwarded by each node, so under load fewer, fuller
    // messages are what keeps up.
    const wait = this.lastFlushItems > 1 ? this.lastFlushAt + this.init.gossipBatchMs - performance.now() : 0
    if (wait <= 0) setImmediate(flush)
    else setTimeout(flush, wait)
  }

  private flushOutgoing (): void {
    const publish = (message: GossipMessage, what: string): void => {
      this.counters.gossipOut++
      void this.c.mesh.publish(EVENTS_TOPIC, encodeGossip(message)).catch((err: Error) => { this.log.warn({ err: err.message }, `${what} gossip failed`) })
    }
    if (this.outgoing.items.length > 0) {
      const { items, ack } = this.outgoing
      this.outgoing = { items: [], ack: [], bytes: 0 }
      publish({ v: WIRE_VERSION, k: 'evs', items, ack }, 'event')
    }
    if (this.outgoingActions.size > 0) {
      const items = [...this.outgoingActions.entries()]
      this.outgoingActions = new Map()
      this.outgoingActionBytes = 0
      publish({ v: WIRE_VERSION, k: 'act', items }, 'action')
    }
    if (this.pendingAcks.length > 0) {
      const keys = this.pendingAcks
      this.pendingAcks = []
      publish({ v: WIRE_VERSION, k: 'ack', keys }, 'ack')
    }
  }

  private reject (reason: string, from: string, detail: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1
    this.log.warn({ from, reason, detail }, 'rejected an event message')
  }

  /**
   * Parses and merges one record from a peer; throws a typed error when it is not valid. Written
   * synced only when `synced(key)` says a durable copy was promised (an ack, a push): otherwise
   * the receiving node holds it synced and anti-entropy restores what a crash here loses.
   */
  private ingest (bytes: Uint8Array, synced: (key: string) => boolean = () => false): { key: string, durable: Promise<void>, changed: boolean } {
    if (bytes.length > this.init.maxRecordBytes) throw new IdlemeshError('EVENT_TOO_LARGE', `record of ${bytes.length} bytes`, { status: 413 })
    let read: ReturnType<typeof readRecordJson>
    try {
      read = readRecordJson(bytes)
    } catch (err) {
      throw new IdlemeshError('EVENT_MALFORMED', 'record is not JSON', { status: 400, cause: err })
    }
    const record = parseRecord(read.json)
    if (record === undefined) throw new IdlemeshError('EVENT_MALFORMED', 'record does not have the shape of an event', { status: 400 })
    const key = `${record.base.source}/${record.base.id}`
    const result = this.c.store.merge(key, record, { sync: synced(key), ...(read.baseBytes === undefined ? {} : { baseBytes: read.baseBytes }) })
    return { key, durable: result.durable, changed: result.outcome === 'added' || result.outcome === 'changed' }
  }

  private async validateGossip (msg: PubsubMessage): Promise<MessageVerdict> {
    if (!this.c.mesh.gate.isAllowed(msg.from)) return 'ignore'
    const message = decodeGossip(msg.data)
    if (message === undefined) {
      this.reject('EVENT_MALFORMED', msg.from, 'not an event gossip message')
      return 'reject'
    }
    this.counters.gossipIn++
    if (message.k === 'ack') {
      for (const listener of this.ackListeners) listener(msg.from, message.keys)
      return 'valid'
    }
    if (message.k === 'ann') {
      const missing = message.keys.filter(k => !this.c.store.has(k))
      if (missing.length === 0) return 'valid'
      // Pulled from the neighbour that delivered the announcement first (it held the events
      // before forwarding it; the author may not be connected to this node), and forwarded only
      // once held here, so whoever hears it from this node can pull from it.
      for (const source of new Set([msg.receivedFrom, msg.from])) {
        try {
          await this.syncWith(source, missing)
          if (missing.every(k => this.c.store.has(k))) return 'valid'
        } catch (err) {
          this.log.debug({ from: source, err: (err as Error).message }, 'pull of announced events failed')
        }
      }
      return 'ignore'
    }
    if (message.k === 'act') {
      const unknown: string[] = []
      for (const [key, json] of message.items) {
        let states: ActionState[] | undefined
        try {
          states = parseActionStates(JSON.parse(Buffer.from(json).toString('utf8')))
        } catch {}
        if (states === undefined) {
          this.reject('EVENT_MALFORMED', msg.from, `action states of ${key}`)
          return 'reject'
        }
        if (this.c.store.has(key)) {
          this.c.store.mergeActions(key, states, { sync: false })
        } else {
          if (this.orphans.size >= MAX_ORPHANS) this.orphans.delete(this.orphans.keys().next().value as string)
          this.orphans.set(key, states)
          unknown.push(key)
        }
      }
      if (unknown.length > 0) void this.syncWith(msg.from, unknown).catch(() => {})
      return 'valid'
    }
    const wanted = new Set(message.ack)
    for (const bytes of message.items) {
      let result: ReturnType<EventReplicator['ingest']>
      try {
        result = this.ingest(bytes, key => wanted.has(key))
      } catch (err) {
        this.reject((err as IdlemeshError).code ?? 'EVENT_INVALID', msg.from, (err as Error).message)
        return 'reject'
      }
      if (wanted.has(result.key)) {
        const key = result.key
        void result.durable.then(() => {
          this.pendingAcks.push(key)
          this.scheduleFlush()
        }, () => {})
      }
    }
    return 'valid'
  }

  private async pull (peerId: string, want: string[] | undefined, skipFresh: boolean): Promise<number> {
    const signal = AbortSignal.timeout(Math.max(this.init.requestTimeoutMs, 30_000))
    const stream = await this.c.mesh.dialProtocol(peerId, SYNC_PROTOCOL, AbortSignal.timeout(this.init.requestTimeoutMs))
    let changed = 0
    const durables: Array<Promise<void>> = []
    try {
      // Partition digests of a week of events are about 1 MiB: the frame limit allows for them.
      const lp = lpStream(stream, { maxDataLength: Math.max(this.init.maxRecordBytes + 64 * 1024, 8 * 1024 * 1024) })
      const { store } = this.c
      if (want === undefined) {
        await lp.write(encodeWire({ v: WIRE_VERSION, k: 'dig', hours: store.hourDigestList() }), { signal })
        const parts = decodeParts((await lp.read({ signal })).subarray())
        if (parts === undefined) throw new IdlemeshError('SYNC_BAD_RESPONSE', `peer ${peerId} sent malformed partition digests`, { status: 502 })
        const freshFrom = Math.floor((Date.now() - FRESH_MS) / PARTITION_MS)
        const differing = store.differingPartitions(parts.items).filter(part => !skipFresh || part < freshFrom)
        await lp.write(encodeWire({ k: 'pwant', parts: differing }), { signal })
        const keys: string[] = []
        for (let more = true; more;) {
          const versions = decodeVersions((await lp.read({ signal })).subarray())
          if (versions === undefined) throw new IdlemeshError('SYNC_BAD_RESPONSE', `peer ${peerId} sent malformed versions`, { status: 502 })
          for (const [key, hash] of versions.items) {
            const meta = store.meta(key)
            if (meta === undefined || meta.hash !== Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex')) keys.push(key)
          }
          more = versions.more
        }
        for (let i = 0; i === 0 || i < keys.length; i += SYNC_CHUNK) {
          await lp.write(encodeWire({ k: 'want', keys: keys.slice(i, i + SYNC_CHUNK), more: i + SYNC_CHUNK < keys.length }), { signal })
        }
      } else {
        await lp.write(encodeWire({ v: WIRE_VERSION, k: 'want', keys: want.slice(0, SYNC_CHUNK) }), { signal })
      }
      for (;;) {
        const frame = decodeSyncFrame((await lp.read({ signal })).subarray())
        if (frame === undefined) throw new IdlemeshError('SYNC_BAD_RESPONSE', `peer ${peerId} sent a malformed sync frame`, { status: 502 })
        if (frame.k === 'end') break
        try {
          const result = this.ingest(frame.r)
          durables.push(result.durable)
          if (result.changed) changed++
        } catch (err) {
          this.reject((err as IdlemeshError).code ?? 'EVENT_INVALID', peerId, (err as Error).message)
          throw err
        }
      }
    } finally {
      await stream.close().catch(() => {})
    }
    await Promise.all(durables)
    this.counters.pulled += changed
    if (changed > 0) this.log.debug({ peer: peerId, changed }, 'synced events')
    return changed
  }

  private async serveSync (stream: Stream, peerId: string): Promise<void> {
    const signal = AbortSignal.timeout(Math.max(this.init.requestTimeoutMs, 60_000))
    try {
      const lp = lpStream(stream, { maxDataLength: 16 * 1024 * 1024 })
      const request = decodeSyncRequest((await lp.read({ signal })).subarray())
      if (request === undefined) { stream.abort(new Error('malformed sync request')); return }
      const { store } = this.c
      let keys: string[]
      if (request.k === 'dig') {
        await lp.write(encodeWire({ k: 'parts', items: store.partitionDigests(store.differingHours(request.hours)) }), { signal })
        const partWant = decodePartWant((await lp.read({ signal })).subarray())
        if (partWant === undefined) { stream.abort(new Error('malformed partition want')); return }
        const versions = store.versionsIn(partWant.parts)
        for (let i = 0; i === 0 || i < versions.length; i += SYNC_CHUNK) {
          await lp.write(encodeWire({ k: 'vers', items: versions.slice(i, i + SYNC_CHUNK), more: i + SYNC_CHUNK < versions.length }), { signal })
        }
        keys = []
        for (let more = true; more;) {
          const want = decodeWant((await lp.read({ signal })).subarray())
          if (want === undefined) { stream.abort(new Error('malformed want')); return }
          keys.push(...want.keys)
          more = want.more
        }
      } else {
        keys = request.keys
      }
      let sent = 0
      // Read in slices: bounded memory however much the peer lacks.
      for (let i = 0; i < keys.length; i += 256) {
        const slice = keys.slice(i, i + 256)
        for (const key of slice) {
          const bytes = await this.recordBytes(key)
          if (bytes === undefined) continue
          await lp.write(encodeWire({ k: 'rec', r: bytes }), { signal })
          sent++
        }
      }
      await lp.write(encodeWire({ k: 'end', sent }), { signal })
      await stream.close({ signal })
    } catch (err) {
      this.log.debug({ peer: peerId, err: (err as Error).message }, 'event sync request failed')
      stream.abort(err as Error)
    }
  }

  private async pushTo (peerId: string, items: Uint8Array[], signal: AbortSignal): Promise<string[]> {
    const stream = await this.c.mesh.dialProtocol(peerId, PUSH_PROTOCOL, signal)
    try {
      const lp = lpStream(stream, { maxDataLength: 64 * 1024 })
      await lp.write(encodeWire({ v: WIRE_VERSION, k: 'push', items }), { signal })
      const reply = decodePushReply((await lp.read({ signal })).subarray())
      if (reply === undefined) throw new IdlemeshError('SYNC_BAD_RESPONSE', `peer ${peerId} sent a malformed push reply`, { status: 502 })
      return reply.keys
    } finally {
      await stream.close().catch(() => {})
    }
  }

  private async servePush (stream: Stream, peerId: string): Promise<void> {
    const signal = AbortSignal.timeout(this.init.requestTimeoutMs)
    try {
      const lp = lpStream(stream, { maxDataLength: this.init.maxRecordBytes + 64 * 1024 })
      const push = decodePush((await lp.read({ signal })).subarray())
      if (push === undefined) { stream.abort(new Error('malformed push')); return }
      const keys: string[] = []
      const durables: Array<Promise<void>> = []
      for (const bytes of push.items) {
        try {
          const result = this.ingest(bytes, () => true)
          keys.push(result.key)
          durables.push(result.durable)
        } catch (err) {
          this.reject((err as IdlemeshError).code ?? 'EVENT_INVALID', peerId, (err as Error).message)
        }
      }
      // "ok" means on this node's disk: that is what the sender's client is promised.
      await Promise.all(durables)
      this.counters.pushedIn += keys.length
      await lp.write(encodeWire({ k: 'ok', keys }), { signal })
      await stream.close({ signal })
    } catch (err) {
      this.log.debug({ peer: peerId, err: (err as Error).message }, 'event push failed')
      stream.abort(err as Error)
    }
  }
}

/** The record of `bytes` (a record's JSON), for tests and tools. */
export function decodeRecordBytes (bytes: Uint8Array): EventRecord | undefined {
  try {
    return parseRecord(readRecordJson(bytes).json)
  } catch {
    return undefined
  }
}
