import { hash } from 'node:crypto'
import { GroupCommit, type BatchOp, type KeyValueStore } from '../store/index.ts'
import type { Logger } from '../logger.ts'
import { eventError } from './errors.ts'
import {
  mergeActions, preferBase, sameActions, stableJson, versionHash,
  type ActionKind, type ActionState, type EventBase, type EventRecord
} from './record.ts'

/**
 * Durable event storage on the node's LevelDB, in a sublevel of its own:
 *   t!<receivedAt:13>!<key> the index entry, JSON: source, receivedAt, receivedBy, action kinds,
 *                           decision digest, base size and the action states (rewritten as
 *                           actions progress); in receipt order, for listing newest first and
 *                           for pruning
 *   t!<receivedAt:13>#<key> the base record, JSON (payload included), written once
 * Two keys an event, because every node writes every event: each key more cost a node ~3.5 µs
 * of CPU per event under webhook load. Both sort by receipt time, so the keys a node writes
 * nearly always come after everything already on disk: LevelDB then moves a flushed table down
 * its levels as it is instead of merging it into the tables below, which for a base keyed by
 * the event's (random) id cost ~10 µs of CPU per event in compactions.
 * Older stores are read as well, and pruned: before this layout the base was at r!<key>; before
 * that the index was at i!<key>, the states at a!<key>, and the t! value was empty.
 * An event's keys are written in one LevelDB batch; concurrent writes share one synced batch
 * (group commit), and each write is acknowledged only once the batch that carries it is on disk.
 * Copies from peers may be written unsynced (`sync: false`): the node that received the event
 * holds it synced, and anti-entropy restores whatever a crash here loses.
 * Index entries and action states live in memory too: dedupe, ownership and anti-entropy never
 * read the disk.
 */

export interface EventMeta {
  source: string
  receivedAt: number
  receivedBy: string
  kinds: readonly ActionKind[]
  actions: ActionState[]
  /** Digest of the routing decision: copies merge their action states only when it matches. */
  decision: string
  /** Size of the base record's JSON, bytes. */
  bytes: number
  /**
   * Anti-entropy partition (receipt time / PARTITION_MS) and the record's version hash, as hex:
   * a node holds one per event in memory, and a string is one small object for the garbage
   * collector where a Buffer is three (with a backing store it must sweep).
   */
  part: number
  hash: string
}

export type MergeOutcome = 'added' | 'changed' | 'same' | 'expired'

export interface MergeResult {
  outcome: MergeOutcome
  /** Resolves once every change this call made is on disk. */
  durable: Promise<void>
}

type Op = BatchOp

const TIME_DIGITS = 13
const MAX_SHARED_DECISION = 512
const HASH_BYTES = 8
/**
 * Anti-entropy compares XORs of version hashes per receipt-time partition (10 s), grouped by
 * hour: what differs between two nodes is nearly always recent, so a round exchanges a digest
 * per hour, then per partition of the hours that differ, then keys of the partitions that
 * differ, and never a list of everything.
 */
export const PARTITION_MS = 10_000
export const PARTITIONS_PER_HOUR = 360

/** An index entry; `a`, the action states, is absent in stores written before it was added. */
interface IndexJson { s: string, t: number, by: string, k: readonly ActionKind[], d: string, n: number, a?: ActionState[] }

export class EventStore {
  private readonly db: KeyValueStore
  private readonly log: Logger
  private readonly retentionMs: number
  private readonly now: () => number
  private readonly metas = new Map<string, EventMeta>()
  private readonly partDigests = new Map<number, Buffer>()
  private readonly hourDigests = new Map<number, Buffer>()
  private readonly partKeys = new Map<number, Set<string>>()
  /** Base records accepted but not yet on disk: readable at once. */
  private readonly unflushed = new Map<string, Uint8Array>()
  /** Keys whose latest write is not on disk yet, and the promise of that write. */
  private readonly pendingDurable = new Map<string, Promise<void>>()
  private readonly writes: GroupCommit
  private closed = false
  private readonly listeners = new Set<(key: string, outcome: MergeOutcome) => void>()
  /**
   * Every event's meta stays in memory for the whole retention, and most of its fields repeat
   * from event to event (a handful of sources, peers and routing decisions): one shared copy of
   * each keeps the heap, and the garbage collector's work marking it, smaller.
   */
  private readonly shared = new Interner<string>()
  private readonly sharedKinds = new Interner<readonly ActionKind[]>()
  /** Decision JSON as built, to its digest: the digest sorts keys and hashes, per event. */
  private readonly decisionDigests = new Interner<string>()

  constructor (db: KeyValueStore, logger: Logger, init: { retentionMs: number, now?: () => number }) {
    this.db = db
    this.log = logger.child({ module: 'event-store' })
    this.writes = new GroupCommit(db, this.log)
    this.retentionMs = init.retentionMs
    this.now = init.now ?? Date.now
  }

  async open (): Promise<void> {
    const legacyActions = new Map<string, ActionState[]>()
    for await (const [key, value] of this.db.iterator({ gt: 'a!', lt: 'a"' })) {
      legacyActions.set(key.slice(2), JSON.parse(Buffer.from(value).toString('utf8')) as ActionState[])
    }
    const load = (key: string, index: IndexJson, actions: ActionState[] | undefined): void => {
      const previous = this.metas.get(key)
      if (previous !== undefined) this.unindex(key, previous)
      const meta: EventMeta = {
        source: this.shared.get(index.s, index.s),
        receivedAt: index.t,
        receivedBy: this.shared.get(index.by, index.by),
        kinds: this.kindsOf(index.k),
        actions: actions ?? index.k.map(() => ({ state: 'pending', gen: 0 })),
        decision: this.shared.get(index.d, index.d),
        bytes: index.n,
        part: 0,
        hash: ''
      }
      this.index(key, meta)
      this.metas.set(key, meta)
    }
    for await (const [key, value] of this.db.iterator({ gt: 'i!', lt: 'i"' })) {
      const k = key.slice(2)
      load(k, JSON.parse(Buffer.from(value).toString('utf8')) as IndexJson, legacyActions.get(k))
    }
    for await (const [key, value] of this.db.iterator({ gt: 't!', lt: 't"', highWaterMarkBytes: 4 << 20 })) {
      if (value.length === 0 || !isIndexKey(key)) continue
      const index = JSON.parse(Buffer.from(value).toString('utf8')) as IndexJson
      load(key.slice(2 + TIME_DIGITS + 1), index, index.a)
    }
    this.log.info({ events: this.metas.size }, 'event store open')
  }

  get size (): number {
    return this.metas.size
  }

  has (key: string): boolean {
    return this.metas.has(key)
  }

  meta (key: string): Readonly<EventMeta> | undefined {
    return this.metas.get(key)
  }

  keys (): IterableIterator<string> {
    return this.metas.keys()
  }

  entries (): IterableIterator<[string, Readonly<EventMeta>]> {
    return this.metas.entries()
  }

  /** The cutoff below which a receipt time is too old to keep: dedupe retention. */
  cutoff (): number {
    return this.now() - this.retentionMs
  }

  async getBaseBytes (key: string): Promise<Uint8Array | undefined> {
    if (!this.metas.has(key)) return undefined
    const unflushed = this.unflushed.get(key)
    if (unflushed !== undefined) return unflushed
    const [bytes] = await this.readBases([key])
    return bytes
  }

  async getRecord (key: string): Promise<EventRecord | undefined> {
    const meta = this.metas.get(key)
    const bytes = await this.getBaseBytes(key)
    if (meta === undefined || bytes === undefined) return undefined
    return { base: JSON.parse(Buffer.from(bytes).toString('utf8')) as EventBase, actions: meta.actions.map(a => ({ ...a })) }
  }

  async getRecords (keys: string[]): Promise<Array<EventRecord | undefined>> {
    const fromDisk = await this.readBases(keys)
    return keys.map((key, i) => {
      const meta = this.metas.get(key)
      const bytes = this.unflushed.get(key) ?? fromDisk[i]
      if (meta === undefined || bytes === undefined) return undefined
      return { base: JSON.parse(Buffer.from(bytes).toString('utf8')) as EventBase, actions: meta.actions.map(a => ({ ...a })) }
    })
  }

  /** Resolves once the latest write of `key` is on disk (at once when there is none pending). */
  async durable (key: string): Promise<void> {
    await this.pendingDurable.get(key)
  }

  /**
   * Inserts a record, or merges it into the stored copy (see record.ts for the rules). The
   * in-memory view changes at once, in call order, so a second copy arriving a microsecond later
   * is already a duplicate; `durable` says when the change is on disk (synced unless `sync` is
   * false). `baseBytes` may pass the base's JSON when the caller has it already.
   */
  merge (key: string, record: EventRecord, options: { baseBytes?: Uint8Array, sync?: boolean } = {}): MergeResult {
    const sync = options.sync ?? true
    const baseBytes = options.baseBytes
    this.assertOpen()
    if (record.base.receivedAt < this.cutoff()) return { outcome: 'expired', durable: Promise.resolve() }
    const existing = this.metas.get(key)
    const decision = this.decisionDigest(record.base.decision)
    if (existing === undefined) {
      const bytes = baseBytes ?? Buffer.from(JSON.stringify(record.base))
      const meta: EventMeta = {
        source: this.shared.get(record.base.source, record.base.source),
        receivedAt: record.base.receivedAt,
        receivedBy: this.shared.get(record.base.receivedBy, record.base.receivedBy),
        kinds: this.kindsOf(record.base.decision.actions.map(a => a.kind)),
        actions: record.actions.map(a => ({ ...a })),
        decision,
        bytes: bytes.length,
        part: 0,
        hash: ''
      }
      this.index(key, meta)
      this.metas.set(key, meta)
      this.unflushed.set(key, bytes)
      const durable = this.write(key, [
        { type: 'put', key: timeKey(meta.receivedAt, key), value: indexBytes(meta) },
        { type: 'put', key: baseKey(meta.receivedAt, key), value: bytes }
      ], sync, () => { if (this.unflushed.get(key) === bytes) this.unflushed.delete(key) })
      this.emit(key, 'added')
      return { outcome: 'added', durable }
    }

    const incomingWins = !preferBase({ receivedAt: existing.receivedAt, receivedBy: existing.receivedBy }, record.base)
    if (incomingWins) {
      // Another node received the same event first: its copy becomes the one every node keeps.
      const bytes = baseBytes ?? Buffer.from(JSON.stringify(record.base))
      const actions = existing.decision === decision
        ? mergeActions(existing.actions, record.actions, key)
        : record.actions.map(a => ({ ...a }))
      if (existing.decision !== decision) this.log.warn({ key }, 'two nodes routed the same event differently; keeping the earliest receipt and its actions: align their webhooks config')
      const oldTime = timeKey(existing.receivedAt, key)
      const oldBase = baseKey(existing.receivedAt, key)
      this.unindex(key, existing)
      existing.receivedAt = record.base.receivedAt
      existing.receivedBy = this.shared.get(record.base.receivedBy, record.base.receivedBy)
      existing.kinds = this.kindsOf(record.base.decision.actions.map(a => a.kind))
      existing.decision = decision
      existing.bytes = bytes.length
      existing.actions = actions
      this.index(key, existing)
      this.unflushed.set(key, bytes)
      const durable = this.write(key, [
        { type: 'del', key: oldTime },
        { type: 'del', key: oldBase },
        { type: 'del', key: `r!${key}` },
        { type: 'put', key: timeKey(existing.receivedAt, key), value: indexBytes(existing) },
        { type: 'put', key: baseKey(existing.receivedAt, key), value: bytes }
      ], sync, () => { if (this.unflushed.get(key) === bytes) this.unflushed.delete(key) })
      this.emit(key, 'changed')
      return { outcome: 'changed', durable }
    }
    if (existing.decision !== decision) return { outcome: 'same', durable: this.durable(key) }
    return this.mergeActions(key, record.actions, { sync })
  }

  /** Merges action states into a stored event (a local step or a peer's update). */
  mergeActions (key: string, actions: ActionState[], options: { sync?: boolean } = {}): MergeResult {
    this.assertOpen()
    const meta = this.metas.get(key)
    if (meta === undefined) return { outcome: 'same', durable: Promise.resolve() }
    if (actions.length !== meta.actions.length) return { outcome: 'same', durable: this.durable(key) }
    const merged = mergeActions(meta.actions, actions, key)
    if (sameActions(merged, meta.actions)) return { outcome: 'same', durable: this.durable(key) }
    meta.actions = merged
    this.unindex(key, meta)
    this.index(key, meta)
    const durable = this.write(key, [{ type: 'put', key: timeKey(meta.receivedAt, key), value: indexBytes(meta) }], options.sync ?? true)
    this.emit(key, 'changed')
    return { outcome: 'changed', durable }
  }

  /** Called after every change (in memory), with the key and how it changed. */
  onChange (listener: (key: string, outcome: MergeOutcome) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** [hour, XOR of the version hashes of its records], for every hour holding records. */
  hourDigestList (): Array<[number, Uint8Array]> {
    return [...this.hourDigests.entries()]
  }

  /** Hours whose digest differs from `theirs` (a peer's hourDigestList), among those held here. */
  differingHours (theirs: Array<[number, Uint8Array]>): number[] {
    const other = new Map(theirs.map(([hour, d]) => [hour, Buffer.from(d)]))
    return [...this.hourDigests.entries()].filter(([hour, d]) => !d.equals(other.get(hour) ?? ZERO)).map(([hour]) => hour)
  }

  /** [partition, digest] of every partition held here within the given hours. */
  partitionDigests (hours: number[]): Array<[number, Uint8Array]> {
    const wanted = new Set(hours)
    return [...this.partDigests.entries()].filter(([part]) => wanted.has(Math.floor(part / PARTITIONS_PER_HOUR)))
  }

  /** Partitions of `theirs` whose digest differs from this node's (or that this node lacks). */
  differingPartitions (theirs: Array<[number, Uint8Array]>): number[] {
    return theirs.filter(([part, d]) => !(this.partDigests.get(part) ?? ZERO).equals(Buffer.from(d))).map(([part]) => part)
  }

  /** [key, version hash] of every record in the given partitions. */
  versionsIn (parts: number[]): Array<[string, Uint8Array]> {
    const out: Array<[string, Uint8Array]> = []
    for (const part of parts) {
      for (const key of this.partKeys.get(part) ?? []) {
        const meta = this.metas.get(key)
        if (meta !== undefined) out.push([key, Buffer.from(meta.hash, 'hex')])
      }
    }
    return out
  }

  /**
   * Newest first: keys of `source` (all when absent), after `cursor` (the `cursor` of a previous
   * page). `cursor` of the result continues the listing; undefined at the end.
   */
  async listKeys (options: { source?: string, cursor?: string, limit: number }): Promise<{ keys: string[], cursor?: string }> {
    const lt = options.cursor === undefined ? 't"' : `t!${options.cursor}`
    const keys: string[] = []
    for await (const key of this.db.keys({ gt: 't!', lt, reverse: true })) {
      if (!isIndexKey(key)) continue
      const k = key.slice(2 + TIME_DIGITS + 1)
      const meta = this.metas.get(k)
      if (meta === undefined) continue
      if (options.source !== undefined && meta.source !== options.source) continue
      keys.push(k)
      if (keys.length >= options.limit) return { keys, cursor: key.slice(2) }
    }
    return { keys }
  }

  /** Drops events received before the retention cutoff. Returns how many went. */
  async prune (): Promise<number> {
    if (this.closed) return 0
    const cutoff = this.cutoff()
    const ops: Op[] = []
    const gone: string[] = []
    for await (const key of this.db.keys({ gt: 't!', lt: `t!${pad(Math.max(0, cutoff))}` })) {
      // A base goes with its index entry, which sorts just before it.
      if (!isIndexKey(key)) continue
      const k = key.slice(2 + TIME_DIGITS + 1)
      const meta = this.metas.get(k)
      // A write still in flight is left for the next round.
      if (this.pendingDurable.has(k)) continue
      ops.push({ type: 'del', key }, { type: 'del', key: baseKeyOf(key) })
      if (meta === undefined) continue
      ops.push({ type: 'del', key: `r!${k}` }, { type: 'del', key: `i!${k}` }, { type: 'del', key: `a!${k}` })
      gone.push(k)
    }
    if (ops.length === 0) return 0
    for (const k of gone) {
      this.unindex(k, this.metas.get(k) as EventMeta)
      this.metas.delete(k)
    }
    await this.enqueue(ops, false)
    if (gone.length > 0) this.log.info({ pruned: gone.length }, 'dropped events older than the dedupe retention')
    return gone.length
  }

  /** Waits for every pending write. */
  async flush (): Promise<void> {
    await this.writes.flush()
  }


  /** Flushes, then refuses further writes. Safe to call twice. */
  async close (): Promise<void> {
    await this.flush()
    this.closed = true
  }

  private assertOpen (): void {
    if (this.closed) throw eventError('EVENTS_STOPPED', 'the event store is closed: the node is stopping')
  }

  private emit (key: string, outcome: MergeOutcome): void {
    for (const listener of this.listeners) {
      try {
        listener(key, outcome)
      } catch (err) {
        this.log.error({ err, key }, 'event listener failed')
      }
    }
  }

  /** Adds a record (its current receipt time and states) to the anti-entropy digests. */
  private index (key: string, meta: EventMeta): void {
    meta.part = Math.floor(meta.receivedAt / PARTITION_MS)
    meta.hash = versionHash(key, meta.receivedAt, meta.receivedBy, meta.actions)
    xorInto(this.partDigests, meta.part, meta.hash)
    xorInto(this.hourDigests, Math.floor(meta.part / PARTITIONS_PER_HOUR), meta.hash)
    let keys = this.partKeys.get(meta.part)
    if (keys === undefined) {
      keys = new Set()
      this.partKeys.set(meta.part, keys)
    }
    keys.add(key)
  }

  /** Takes a record out of the digests (before it changes or goes). */
  private unindex (key: string, meta: EventMeta): void {
    xorInto(this.partDigests, meta.part, meta.hash)
    xorInto(this.hourDigests, Math.floor(meta.part / PARTITIONS_PER_HOUR), meta.hash)
    const keys = this.partKeys.get(meta.part)
    keys?.delete(key)
    if (keys?.size === 0) this.partKeys.delete(meta.part)
  }

  private kindsOf (kinds: readonly ActionKind[]): readonly ActionKind[] {
    const key = kinds.join(',')
    return this.sharedKinds.peek(key) ?? this.sharedKinds.get(key, Object.freeze([...kinds]))
  }

  private decisionDigest (decision: EventBase['decision']): string {
    const text = JSON.stringify(decision)
    // Rendered task prompts make some decisions unique and large: those are not worth keeping.
    if (text.length > MAX_SHARED_DECISION) return digest(stableJson(decision))
    const known = this.decisionDigests.peek(text)
    if (known !== undefined) return known
    const computed = digest(stableJson(decision))
    return this.decisionDigests.get(text, this.shared.get(computed, computed))
  }

  /** Base records from disk, where this layout keeps them or, failing that, where older ones did. */
  private async readBases (keys: string[]): Promise<Array<Uint8Array | undefined>> {
    const found = await this.db.getMany(keys.map(k => {
      const meta = this.metas.get(k)
      return meta === undefined ? `r!${k}` : baseKey(meta.receivedAt, k)
    }))
    const missing = keys.filter((_, i) => found[i] === undefined)
    if (missing.length === 0) return found
    const legacy = await this.db.getMany(missing.map(k => `r!${k}`))
    let next = 0
    return found.map(bytes => bytes ?? legacy[next++])
  }

  private write (key: string, ops: Op[], sync: boolean, onDurable?: () => void): Promise<void> {
    const durable = this.enqueue(ops, sync)
    this.pendingDurable.set(key, durable)
    void durable.then(() => {
      if (this.pendingDurable.get(key) === durable) this.pendingDurable.delete(key)
      onDurable?.()
    }, () => {})
    return durable
  }

  private async enqueue (ops: Op[], sync: boolean): Promise<void> {
    await this.writes.write(ops, { sync })
  }

}

/**
 * One shared value per key, for values that repeat across many events. Bounded: past `max`
 * distinct keys it starts afresh, so odd input costs sharing, never memory.
 */
class Interner<T> {
  private readonly values = new Map<string, T>()
  private readonly max: number

  constructor (max = 1024) {
    this.max = max
  }

  /** The shared value for `key`, which becomes `value` when there is none yet. */
  get (key: string, value: T): T {
    const known = this.values.get(key)
    if (known !== undefined) return known
    if (this.values.size >= this.max) this.values.clear()
    this.values.set(key, value)
    return value
  }

  peek (key: string): T | undefined {
    return this.values.get(key)
  }
}

function digest (text: string): string {
  return hash('sha256', text, 'hex').slice(0, 16)
}

function indexBytes (meta: EventMeta): Uint8Array {
  const index: IndexJson = { s: meta.source, t: meta.receivedAt, by: meta.receivedBy, k: meta.kinds, d: meta.decision, n: meta.bytes, a: meta.actions }
  return Buffer.from(JSON.stringify(index))
}

function timeKey (receivedAt: number, key: string): string {
  return `t!${timeCursor(receivedAt, key)}`
}

function baseKey (receivedAt: number, key: string): string {
  return `t!${pad(receivedAt)}#${key}`
}

/** The base's key beside an index entry's key (isIndexKey). */
function baseKeyOf (indexKey: string): string {
  return `${indexKey.slice(0, 2 + TIME_DIGITS)}#${indexKey.slice(2 + TIME_DIGITS + 1)}`
}

/** An index entry's key (t!<time>!<key>), not a base's (t!<time>#<key>). */
function isIndexKey (key: string): boolean {
  return key.charCodeAt(2 + TIME_DIGITS) === 33
}

/** A listing position: the event received at `receivedAt` with `key` (see listKeys). */
export function timeCursor (receivedAt: number, key: string): string {
  return `${pad(receivedAt)}!${key}`
}

function pad (ms: number): string {
  return String(Math.max(0, Math.floor(ms))).padStart(TIME_DIGITS, '0')
}

const ZERO = Buffer.alloc(HASH_BYTES)

/** XORs `hash` (hex) into the digest of `slot`; a digest back to zero is dropped (zero = absent). */
function xorInto (digests: Map<number, Buffer>, slot: number, hash: string): void {
  let digest = digests.get(slot)
  if (digest === undefined) {
    digest = Buffer.alloc(HASH_BYTES)
    digests.set(slot, digest)
  }
  for (let i = 0; i < HASH_BYTES; i++) digest[i] = (digest[i] as number) ^ ((hexDigit(hash, 2 * i) << 4) | hexDigit(hash, 2 * i + 1))
  if (digest.equals(ZERO)) digests.delete(slot)
}

function hexDigit (hex: string, at: number): number {
  const c = hex.charCodeAt(at)
  return c <= 57 ? c - 48 : c - 87
}
