import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { open as openFile, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { GroupCommit, type BatchOp, type KeyValueStore } from '../store/index.ts'
import type { Logger } from '../logger.ts'
import { compareHeads, pickLatest, type Checkpoint, type Head } from './format.ts'

/**
 * Durable checkpoint storage on the node's LevelDB, in a sublevel of its own:
 *   e!<id>                     envelope bytes (what was signed and gossiped, byte for byte), or
 *                              empty when the envelope is larger than BLOB_MIN_BYTES: then it is
 *                              the file <blobDir>/<id>, written (and synced) before the batch
 *                              that names it, so a committed checkpoint always has its bytes
 *   i!<id>                     index entry: stream, seq, parent ids (read at open; no envelope I/O)
 *   h!<stream>!<id>            the stream's heads (checkpoints no stored checkpoint names as parent)
 *   q!<stream>!<seq:16>!<id>   history in seq order
 * One checkpoint is one LevelDB batch, so a crash at any moment leaves either all of its keys or
 * none. Concurrent puts are committed together (group commit). A put that someone will be told
 * about (a local post, a copy a poster asked an ack for) is synced to disk before it resolves;
 * an ordinary copy from a peer is written without fsync: the OS keeps it across a process crash,
 * and after a power loss anti-entropy fetches it again. Without that, every node of a busy mesh
 * fsyncs for every checkpoint anyone posts.
 */

export interface IndexEntry {
  stream: string
  seq: number
  parents: string[]
}

export interface PutResult {
  /** False when the checkpoint was already stored (nothing written). */
  added: boolean
  /** Resolves once the checkpoint is on disk (synced); rejects if the write failed. */
  durable: Promise<void>
}

type Op = BatchOp

const EMPTY = new Uint8Array(0)
const SEQ_DIGITS = 16
/**
 * Envelopes above this size live in files: LevelDB took 222 ms to write a 64 MiB value here (and
 * compacts it again later), a file 43 ms.
 */
export const BLOB_MIN_BYTES = 1024 * 1024

export interface CheckpointStoreInit {
  /** Folder of the envelopes too large for LevelDB (created when needed). */
  blobDir: string
}

export class CheckpointStore {
  private readonly db: KeyValueStore
  private readonly log: Logger
  private readonly index = new Map<string, IndexEntry>()
  private readonly heads = new Map<string, Map<string, Head>>()
  private readonly streamCounts = new Map<string, number>()
  private readonly writes: GroupCommit
  /** Blob files written without fsync (copies from peers): sync() fsyncs them. */
  private readonly unsyncedBlobs = new Set<string>()
  private readonly blobDir: string
  /** Envelopes accepted but not yet on disk: readable at once, like everything else in memory. */
  private readonly unflushed = new Map<string, Uint8Array>()
  private readonly addedListeners = new Set<(id: string, entry: IndexEntry) => void>()

  constructor (db: KeyValueStore, logger: Logger, init: CheckpointStoreInit) {
    this.db = db
    this.log = logger.child({ module: 'checkpoint-store' })
    this.writes = new GroupCommit(db, this.log)
    this.blobDir = init.blobDir
  }

  /** Loads the index and heads into memory. */
  async open (): Promise<void> {
    for await (const [key, value] of this.db.iterator({ gt: 'i!', lt: 'i"' })) {
      const id = key.slice(2)
      const decoded = dagCbor.decode<{ s: string, q: number, p: string[] }>(value)
      this.index.set(id, { stream: decoded.s, seq: decoded.q, parents: decoded.p })
      this.streamCounts.set(decoded.s, (this.streamCounts.get(decoded.s) ?? 0) + 1)
    }
    for await (const key of this.db.keys({ gt: 'h!', lt: 'h"' })) {
      const rest = key.slice(2)
      const cut = rest.lastIndexOf('!')
      const stream = rest.slice(0, cut)
      const id = rest.slice(cut + 1)
      const entry = this.index.get(id)
      if (entry !== undefined) this.headsOf(stream).set(id, { id: CID.parse(id), seq: entry.seq })
    }
    this.removeOrphanBlobs()
    this.log.info({ checkpoints: this.index.size, streams: this.streamCounts.size }, 'checkpoint store open')
  }

  has (id: string): boolean {
    return this.index.has(id)
  }

  entry (id: string): IndexEntry | undefined {
    return this.index.get(id)
  }

  seqOf (id: string): number | undefined {
    return this.index.get(id)?.seq
  }

  get size (): number {
    return this.index.size
  }

  streams (): string[] {
    return [...this.streamCounts.keys()].sort()
  }

  count (stream: string): number {
    return this.streamCounts.get(stream) ?? 0
  }

  streamHeads (stream: string): Head[] {
    return [...(this.heads.get(stream)?.values() ?? [])].sort(compareHeads)
  }

  latest (stream: string): Head | undefined {
    return pickLatest(this.heads.get(stream)?.values() ?? [])
  }

  async getBytes (id: string): Promise<Uint8Array | undefined> {
    if (!this.index.has(id)) return undefined
    return this.unflushed.get(id) ?? await this.fromDisk(id, await this.db.get(`e!${id}`))
  }

  async getManyBytes (ids: string[]): Promise<Array<Uint8Array | undefined>> {
    const values = await this.db.getMany(ids.map(id => `e!${id}`))
    return await Promise.all(ids.map(async (id, i) => this.unflushed.get(id) ?? await this.fromDisk(id, values[i])))
  }

  private async fromDisk (id: string, value: Uint8Array | undefined): Promise<Uint8Array | undefined> {
    if (value === undefined || value.length > 0) return value
    return new Uint8Array(await readFile(join(this.blobDir, id)))
  }

  /** Ids of `stream`, newest (highest seq) first. */
  async history (stream: string, options: { limit: number, beforeSeq?: number }): Promise<string[]> {
    // The history index lives on disk only: let what memory already shows reach it first.
    await this.flush()
    const prefix = `q!${stream}!`
    const lt = options.beforeSeq === undefined ? `${prefix}~` : `${prefix}${pad(options.beforeSeq)}!`
    const ids: string[] = []
    for await (const key of this.db.keys({ gte: prefix, lt, reverse: true, limit: options.limit })) {
      ids.push(key.slice(key.lastIndexOf('!') + 1))
    }
    return ids
  }

  /**
   * Stores a checkpoint whose parents are all stored (the caller checked, with checkSeq). The
   * in-memory view changes at once, in call order, so the next local post sees this one as a
   * head; the returned promise says when it is durable.
   */
  put (checkpoint: Checkpoint, options: { sync?: boolean } = {}): PutResult {
    const id = checkpoint.id.toString()
    if (this.index.has(id)) return { added: false, durable: Promise.resolve() }
    const { stream, seq } = checkpoint.envelope
    const parents = checkpoint.envelope.parents.map(p => p.toString())
    this.index.set(id, { stream, seq, parents })
    this.streamCounts.set(stream, (this.streamCounts.get(stream) ?? 0) + 1)
    const heads = this.headsOf(stream)
    const sync = options.sync ?? true
    const blob = checkpoint.bytes.length > BLOB_MIN_BYTES
    // The batch that names a blob is written only once the file is: a committed checkpoint
    // always has its bytes. Later writes wait with it, so the order on disk stays call order.
    const ready = blob ? this.writeBlob(id, checkpoint.bytes, sync) : undefined
    const ops: Op[] = [
      { type: 'put', key: `e!${id}`, value: blob ? EMPTY : checkpoint.bytes },
      { type: 'put', key: `i!${id}`, value: dagCbor.encode({ s: stream, q: seq, p: parents }) },
      { type: 'put', key: `q!${stream}!${pad(seq)}!${id}`, value: EMPTY },
      { type: 'put', key: `h!${stream}!${id}`, value: EMPTY }
    ]
    for (const parent of parents) {
      if (heads.delete(parent)) ops.push({ type: 'del', key: `h!${stream}!${parent}` })
    }
    heads.set(id, { id: checkpoint.id, seq })
    this.unflushed.set(id, checkpoint.bytes)
    const durable = this.writes.write(ops, { sync, ...(ready === undefined ? {} : { ready }) })
    void durable.finally(() => { this.unflushed.delete(id) }).catch(() => {})
    const entry = this.index.get(id) as IndexEntry
    for (const listener of this.addedListeners) listener(id, entry)
    return { added: true, durable }
  }

  /** Called for every checkpoint added (in memory; `durable` of put() says when it is on disk). */
  onAdded (listener: (id: string, entry: IndexEntry) => void): () => void {
    this.addedListeners.add(listener)
    return () => { this.addedListeners.delete(listener) }
  }

  /** Waits until everything written so far is synced to disk (fsync), not just written. */
  async sync (): Promise<void> {
    // A synced write makes LevelDB fsync its log, which covers every earlier write too; blob
    // files written without fsync are synced first.
    const blobs = [...this.unsyncedBlobs]
    this.unsyncedBlobs.clear()
    await Promise.all(blobs.map(async path => {
      const file = await openFile(path, 'r')
      try { await file.sync() } finally { await file.close() }
    }))
    await this.writes.write([{ type: 'put', key: 'sync', value: EMPTY }], { sync: true })
  }

  private async writeBlob (id: string, bytes: Uint8Array, sync: boolean): Promise<void> {
    mkdirSync(this.blobDir, { recursive: true })
    const path = join(this.blobDir, id)
    const tmp = `${path}.tmp`
    const file = await openFile(tmp, 'w')
    try {
      await file.writeFile(bytes)
      if (sync) await file.sync()
    } finally {
      await file.close()
    }
    await rename(tmp, path)
    if (!sync) this.unsyncedBlobs.add(path)
  }

  /** Files of a crash between a blob's write and its batch: no checkpoint names them. */
  private removeOrphanBlobs (): void {
    let names: string[]
    try {
      names = readdirSync(this.blobDir)
    } catch {
      return
    }
    for (const name of names) {
      if (!this.index.has(name)) rmSync(join(this.blobDir, name), { force: true })
    }
  }

  /** Waits for every pending write. */
  async flush (): Promise<void> {
    await this.writes.flush()
  }

  private headsOf (stream: string): Map<string, Head> {
    let heads = this.heads.get(stream)
    if (heads === undefined) {
      heads = new Map()
      this.heads.set(stream, heads)
    }
    return heads
  }
}

function pad (seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0')
}
