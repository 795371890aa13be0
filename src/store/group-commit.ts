import type { AbstractBatchOperation } from 'abstract-level'
import type { Logger } from '../logger.ts'
import type { KeyValueStore, Store } from './index.ts'

export type BatchOp = AbstractBatchOperation<Store, string, Uint8Array>

/**
 * Group commit: every write made in one turn of the event loop (all the items of a gossip
 * message, all the requests that arrived together) goes into one LevelDB batch, and what
 * arrives while a batch is being written goes into the next. A LevelDB batch call costs tens of
 * microseconds and an fsync far more, however few operations they carry. A batch is synced when
 * any write in it asked to be; writes land on disk in the order they were made.
 */
export class GroupCommit {
  private readonly db: KeyValueStore
  private readonly log: Logger
  private pending: BatchOp[] = []
  private pendingSync = false
  /** Work a batch waits for before it is written (e.g. files the batch refers to). */
  private pendingReady: Array<Promise<void>> = []
  private waiters: Array<{ resolve: () => void, reject: (err: Error) => void }> = []
  private flushing?: Promise<void>
  private queued = false

  constructor (db: KeyValueStore, logger: Logger) {
    this.db = db
    this.log = logger
  }

  /** Resolves once `ops` are written (and synced, with `sync`); rejects if the write failed. */
  async write (ops: BatchOp[], options: { sync: boolean, ready?: Promise<void> }): Promise<void> {
    for (const op of ops) this.pending.push(op)
    if (options.sync) this.pendingSync = true
    if (options.ready !== undefined) this.pendingReady.push(options.ready)
    const done = new Promise<void>((resolve, reject) => { this.waiters.push({ resolve, reject }) })
    if (this.flushing === undefined && !this.queued) {
      this.queued = true
      setImmediate(() => {
        this.queued = false
        if (this.flushing === undefined && this.pending.length > 0) this.startBatch()
      })
    }
    await done
  }

  /** Waits until every write made so far is on disk. */
  async flush (): Promise<void> {
    while (this.flushing !== undefined || this.pending.length > 0) {
      if (this.flushing !== undefined) await this.flushing.catch(() => {})
      else this.startBatch()
    }
  }

  private startBatch (): void {
    const ops = this.pending
    const waiters = this.waiters
    const sync = this.pendingSync
    const ready = this.pendingReady
    this.pending = []
    this.waiters = []
    this.pendingSync = false
    this.pendingReady = []
    this.flushing = Promise.all(ready).then(async () => { await this.db.batch(ops, { sync }) }).then(() => {
      for (const w of waiters) w.resolve()
    }, (err: Error) => {
      this.log.error({ err: err.message }, 'write failed')
      for (const w of waiters) w.reject(err)
    }).finally(() => {
      this.flushing = undefined
      if (this.pending.length > 0) this.startBatch()
    })
  }
}
