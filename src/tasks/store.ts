import { EventEmitter } from 'node:events'
import * as dagCbor from '@ipld/dag-cbor'
import type { KeyValueStore } from '../store/index.ts'
import type { Logger } from '../logger.ts'
import { compareTasks, digestOf, isFinal, mergeRecords, type TaskRecord } from './model.ts'
import { decodeRecordBytes, type LogLineRecord } from './wire.ts'
import { MAX_LOG_CHARS_PER_ATTEMPT, MAX_LOG_LINE_CHARS } from './constants.ts'

export interface TaskStoreEvents {
  /** A record changed (new, or merged into something new); `previous` is undefined for a new one. */
  change: [record: TaskRecord, previous: TaskRecord | undefined, origin: 'local' | 'remote']
}

export interface TaskStoreComponents {
  /** Records, by task id. */
  records: KeyValueStore
  /** Log lines of the attempts that ran here: `<id>!<n>!<seq>`. */
  logs: KeyValueStore
  /** This node's Claude Code sessions, by conversation key. */
  sessions: KeyValueStore
  logger: Logger
}

export interface LocalSession {
  conversation: string
  sessionId: string
  taskId: string
  cwd: string
  at: number
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0')
const logKey = (id: string, n: number, seq: number): string => `${id}!${pad(n, 4)}!${pad(seq, 10)}`

/**
 * Every task record this node knows, in memory and in LevelDB. `merge` is the only way in:
 * it folds a copy into what is held and, when that changes anything, persists it (writes of one
 * turn of the event loop go down in one synced batch) and tells listeners.
 */
export class TaskStore extends EventEmitter<TaskStoreEvents> {
  private readonly c: TaskStoreComponents
  private readonly records = new Map<string, TaskRecord>()
  /** Ids of records without `final`: what schedulers and runners look at on every pass. */
  private readonly unfinished = new Set<string>()
  private readonly byConversation = new Map<string, Set<string>>()
  private pending = new Map<string, TaskRecord>()
  private flushing?: Promise<void>
  private flushScheduled = false
  private readonly logChars = new Map<string, number>()
  private readonly logSeq = new Map<string, number>()
  private readonly logListeners = new Map<string, Set<(line: LogLineRecord) => void>>()
  private logBatch: Array<{ type: 'put', key: string, value: Uint8Array }> = []
  private logFlushScheduled = false

  constructor (components: TaskStoreComponents) {
    super()
    this.setMaxListeners(0)
    this.c = components
  }

  async open (): Promise<void> {
    let bad = 0
    for await (const [, value] of this.c.records.iterator()) {
      const record = decodeRecordBytes(value)
      if (record === undefined) { bad++; continue }
      this.index(record)
    }
    if (bad > 0) this.c.logger.warn({ bad }, 'tasks: skipped unreadable records in the store')
  }

  get size (): number {
    return this.records.size
  }

  get (id: string): TaskRecord | undefined {
    return this.records.get(id)
  }

  all (): IterableIterator<TaskRecord> {
    return this.records.values()
  }

  /** Records not yet final. */
  openRecords (): TaskRecord[] {
    const out: TaskRecord[] = []
    for (const id of this.unfinished) {
      const record = this.records.get(id)
      if (record !== undefined) out.push(record)
    }
    return out
  }

  /** A conversation's tasks in order (submission time, id). */
  conversation (key: string): TaskRecord[] {
    const ids = this.byConversation.get(key)
    if (ids === undefined) return []
    return [...ids].map(id => this.records.get(id)).filter((r): r is TaskRecord => r !== undefined).sort(compareTasks)
  }

  digests (): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [id, record] of this.records) out[id] = digestOf(record)
    return out
  }

  /** Folds `incoming` into the held copy; returns the result and whether it changed. */
  merge (incoming: TaskRecord, origin: 'local' | 'remote'): { record: TaskRecord, changed: boolean } {
    const previous = this.records.get(incoming.id)
    const record = previous === undefined ? incoming : mergeRecords(previous, incoming)
    if (record === previous) return { record, changed: false }
    this.index(record)
    this.pending.set(record.id, record)
    this.scheduleFlush()
    this.emit('change', record, previous, origin)
    return { record, changed: true }
  }

  /** Resolves once everything merged so far is durably written. */
  async flush (): Promise<void> {
    while (this.pending.size > 0 || this.flushing !== undefined) {
      if (this.flushing !== undefined) {
        await this.flushing
        continue
      }
      const batch = this.pending
      this.pending = new Map()
      this.flushing = this.c.records.batch([...batch.values()].map(r => ({ type: 'put' as const, key: r.id, value: dagCbor.encode(r) })), { sync: true })
        .catch((err: Error) => { this.c.logger.error({ err: err.message }, 'tasks: writing records failed') })
        .finally(() => { this.flushing = undefined })
      await this.flushing
    }
    await this.flushLogs()
  }

  /** Drops final records older than `before` (their logs too). Returns how many went. */
  async prune (before: number): Promise<number> {
    const gone: string[] = []
    for (const record of this.records.values()) {
      if (record.final !== undefined && record.final.at < before) gone.push(record.id)
    }
    if (gone.length === 0) return 0
    for (const id of gone) {
      const record = this.records.get(id) as TaskRecord
      this.records.delete(id)
      this.unfinished.delete(id)
      if (record.spec.conversation !== undefined) this.byConversation.get(record.spec.conversation)?.delete(id)
    }
    await this.c.records.batch(gone.map(id => ({ type: 'del' as const, key: id })))
    for (const id of gone) {
      const keys: string[] = []
      for await (const key of this.c.logs.keys({ gte: `${id}!`, lt: `${id}!~` })) keys.push(key)
      if (keys.length > 0) await this.c.logs.batch(keys.map(key => ({ type: 'del' as const, key })))
    }
    return gone.length
  }

  // ---- logs of attempts that ran on this node ----

  appendLog (id: string, n: number, line: Omit<LogLineRecord, 'seq'>): void {
    const k = `${id}!${n}`
    const used = this.logChars.get(k) ?? 0
    if (used > MAX_LOG_CHARS_PER_ATTEMPT) return
    const seq = this.logSeq.get(k) ?? 0
    this.logSeq.set(k, seq + 1)
    let text = line.text.length > MAX_LOG_LINE_CHARS ? `${line.text.slice(0, MAX_LOG_LINE_CHARS)}[…${line.text.length - MAX_LOG_LINE_CHARS} characters cut]` : line.text
    if (used + text.length > MAX_LOG_CHARS_PER_ATTEMPT) text = `[idlemesh: log of this attempt exceeds ${MAX_LOG_CHARS_PER_ATTEMPT} characters; the rest is not kept]`
    this.logChars.set(k, used + text.length)
    const record: LogLineRecord = { seq, at: line.at, stream: line.stream, text }
    this.logBatch.push({ type: 'put', key: logKey(id, n, seq), value: new TextEncoder().encode(JSON.stringify(record)) })
    if (!this.logFlushScheduled) {
      this.logFlushScheduled = true
      setImmediate(() => { void this.flushLogs() })
    }
    for (const listener of this.logListeners.get(k) ?? []) listener(record)
  }

  /** Lines of attempt `n` with seq > after, at most `limit`. */
  async readLog (id: string, n: number, after: number, limit = 2000): Promise<LogLineRecord[]> {
    await this.flushLogs()
    const out: LogLineRecord[] = []
    const gt = after < 0 ? `${id}!${pad(n, 4)}!` : logKey(id, n, after)
    for await (const [, value] of this.c.logs.iterator({ gt, lt: `${id}!${pad(n, 4)}!~`, limit })) {
      const line = JSON.parse(new TextDecoder().decode(value)) as LogLineRecord
      if (line.seq > after) out.push(line)
    }
    return out
  }

  /** Calls `listener` with every new line of attempt `n` until the returned function is called. */
  onLog (id: string, n: number, listener: (line: LogLineRecord) => void): () => void {
    const k = `${id}!${n}`
    let set = this.logListeners.get(k)
    if (set === undefined) {
      set = new Set()
      this.logListeners.set(k, set)
    }
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.logListeners.delete(k)
    }
  }

  private async flushLogs (): Promise<void> {
    this.logFlushScheduled = false
    if (this.logBatch.length === 0) return
    const batch = this.logBatch
    this.logBatch = []
    await this.c.logs.batch(batch).catch((err: Error) => { this.c.logger.warn({ err: err.message }, 'tasks: writing log lines failed') })
  }

  // ---- local sessions ----

  async getSession (conversation: string): Promise<LocalSession | undefined> {
    try {
      const value = await this.c.sessions.get(conversation)
      return value === undefined ? undefined : JSON.parse(new TextDecoder().decode(value)) as LocalSession
    } catch {
      return undefined
    }
  }

  async putSession (session: LocalSession): Promise<void> {
    await this.c.sessions.batch([{ type: 'put', key: session.conversation, value: new TextEncoder().encode(JSON.stringify(session)) }])
  }

  private index (record: TaskRecord): void {
    this.records.set(record.id, record)
    if (isFinal(record)) this.unfinished.delete(record.id)
    else this.unfinished.add(record.id)
    const key = record.spec.conversation
    if (key !== undefined) {
      let set = this.byConversation.get(key)
      if (set === undefined) {
        set = new Set()
        this.byConversation.set(key, set)
      }
      set.add(record.id)
    }
  }

  private scheduleFlush (): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => {
      this.flushScheduled = false
      void this.flush()
    })
  }
}
