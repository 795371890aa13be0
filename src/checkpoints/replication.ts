import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { Logger } from '../logger.ts'
import type { Mesh, MessageVerdict, PubsubMessage } from '../mesh/index.ts'
import { IdlemeshError, isIdlemeshError } from '../errors.ts'
import type { Keyring } from './keyring.ts'
import { checkSeq, decodeEnvelope, openCheckpoint, type Checkpoint, type HashedBytes, type SealInit } from './format.ts'
import { chunkDigests, sha256, verifyAuthorSignature } from './crypto.ts'
import type { CheckpointStore } from './store.ts'
import { ScratchBuffer } from './scratch.ts'
import { EnvelopeAssembler, OFF_THREAD_MIN_BYTES, type AnnouncedChunks } from './assembler.ts'
import { OffThreadHasher, type HashJob } from './hasher.ts'
import { ancestorSample, missingFor } from './walk.ts'
import {
  CHECKPOINT_TOPIC, HEADS_PROTOCOL, MAX_CHUNK_BYTES, SYNC_PROTOCOL, WIRE_VERSION, decodeGossip, decodeHeadsRequest, decodeHeadsResponse,
  decodeSyncFrame, decodeSyncRequest, encodeWire, type GossipAnnounce, type GossipBatch, type HeadsResponse, type SyncRequest
} from './wire.ts'

export interface ReplicationInit {
  /** Checkpoints up to this size ride in gossip; larger ones are announced and pulled: 256 KiB. */
  inlineMaxBytes: number
  /** Chunk size of the pull path: 1 MiB. */
  chunkBytes: number
  /** Largest envelope accepted from a peer, bytes. */
  maxEnvelopeBytes: number
  /** Anti-entropy with every connected peer this often, ms. */
  syncIntervalMs: number
  /** Bound on one sync or heads exchange, ms. */
  requestTimeoutMs: number
}

export interface ReplicationComponents {
  mesh: Mesh
  store: CheckpointStore
  keyring: Keyring
  logger: Logger
  /** Authors whose checkpoints are accepted (the allowlist, when there is one). */
  isMember: (peerId: string) => boolean
}

type IngestOutcome = 'stored' | 'duplicate' | 'missing-parent'

/** Largest gossip batch: a few hundred KiB keeps one message well under gossipsub's limits. */
const BATCH_MAX_BYTES = 512 * 1024
const ENVELOPE_OVERHEAD = 64
/** Under load, at most one checkpoint gossip message per this many ms (see scheduleFlush). */
const GOSSIP_INTERVAL_MS = 5
/** Sync frames carry small envelopes in batches of up to this many bytes. */
const SYNC_BATCH_BYTES = 256 * 1024
/** Ack requests remembered for checkpoints not yet received. */
const MAX_ACK_WANTED = 10_000

/**
 * Moves checkpoints between nodes and never lets an invalid one in. Everything received (by
 * gossip, by sync, by pull) goes through `ingest`: decode, id from the bytes, author's signature,
 * decryption under the claimed key, parents present and seq consistent; only then is it stored
 * and, for gossip, forwarded. A failure is counted by reason, logged with the sender, and
 * rejects the gossip message, which gossipsub's peer score holds against the sender.
 */
export class Replicator {
  readonly rejected: Record<string, number> = {}
  private readonly c: ReplicationComponents
  private readonly init: ReplicationInit
  private readonly log: Logger
  private outgoing: { items: Uint8Array[], ack: string[], bytes: number } = { items: [], ack: [], bytes: 0 }
  private flushScheduled = false
  private lastFlushAt = 0
  /** Ids whose posters asked for a durability ack, with when they asked (bounded, oldest dropped). */
  private readonly ackWanted = new Map<string, number>()
  private pendingAcks: string[] = []
  private readonly ackListeners = new Set<(from: string, ids: string[]) => void>()
  /** Ids announced or seen as heads elsewhere that this node has not stored yet. */
  private readonly backlog = new Map<string, { from: string, chunks?: AnnouncedChunks }>()
  private readonly scratch = new ScratchBuffer()
  private readonly hasher = new OffThreadHasher()
  /** Digests of the chunks after the first of envelopes being posted, keyed by their bytes (see sealHooks). */
  private readonly laterChunkDigests = new WeakMap<Uint8Array, Promise<Uint8Array[]>>()
  /** Per stream, the ancestor sample of its latest head that sync requests carry. */
  private readonly samples = new Map<string, { head: string, ids: string[] }>()
  private readonly syncing = new Map<string, Promise<number>>()
  private timer?: NodeJS.Timeout
  private readonly onConnect = (peerId: string): void => { void this.syncWith(peerId).catch(() => {}) }
  // A peer that just subscribed missed what was published before: catch it up now rather than
  // at the next periodic sync.
  private readonly onSubscribed = (peerId: string, topic: string): void => {
    if (topic === CHECKPOINT_TOPIC) void this.syncWith(peerId).catch(() => {})
  }
  private started = false

  constructor (components: ReplicationComponents, init: ReplicationInit) {
    this.c = components
    this.init = init
    this.log = components.logger.child({ module: 'replication' })
  }

  start (): void {
    if (this.started) return
    this.started = true
    const { mesh } = this.c
    mesh.setValidator(CHECKPOINT_TOPIC, async (msg) => await this.validateGossip(msg), { forwardOnlyWhereNeeded: true })
    // All the work happens in the validator, which decides what gossipsub forwards.
    mesh.subscribe(CHECKPOINT_TOPIC, () => {})
    mesh.handle(SYNC_PROTOCOL, (stream, connection) => { void this.serveSync(stream, connection.remotePeer.toString()) }, { maxInboundStreams: 64 })
    mesh.handle(HEADS_PROTOCOL, (stream) => { void this.serveHeads(stream) }, { maxInboundStreams: 64 })
    mesh.on('peer:connect', this.onConnect)
    mesh.on('peer:subscribed', this.onSubscribed)
    this.timer = setInterval(() => { this.syncAll() }, this.init.syncIntervalMs)
    this.timer.unref()
  }

  stop (): void {
    this.started = false
    this.scratch.release()
    void this.hasher.close()
    clearInterval(this.timer)
    this.c.mesh.off('peer:connect', this.onConnect)
    this.c.mesh.off('peer:subscribed', this.onSubscribed)
  }

  get backlogSize (): number {
    return this.backlog.size
  }

  /** Called with (peer, ids) whenever a peer confirms it holds checkpoints durably. */
  onAck (listener: (from: string, ids: string[]) => void): () => void {
    this.ackListeners.add(listener)
    return () => { this.ackListeners.delete(listener) }
  }

  /**
   * Seal options for a checkpoint this node is about to post. From OFF_THREAD_MIN_BYTES on, the
   * envelope is laid out in shared memory and the worker hashes the digests of its chunks after
   * the first (what its announcement carries) while sealCheckpoint hashes the id and signs;
   * announce() waits for them. The first chunk holds the signature: announce() hashes it.
   */
  sealHooks (payloadBytes: number): Pick<SealInit, 'allocate' | 'onEncrypted'> {
    if (payloadBytes < OFF_THREAD_MIN_BYTES) return {}
    const { chunkBytes } = this.init
    return {
      allocate: size => new Uint8Array(new SharedArrayBuffer(size)),
      onEncrypted: (bytes) => {
        let job: HashJob
        try {
          job = this.hasher.job(bytes)
        } catch (err) {
          // announce() hashes them all on this thread instead.
          this.log.warn({ err: (err as Error).message }, 'hash worker unavailable')
          return
        }
        const digests: Array<Promise<Uint8Array>> = []
        for (let offset = chunkBytes; offset < bytes.length; offset += chunkBytes) digests.push(job.digest(offset, Math.min(chunkBytes, bytes.length - offset)))
        const all = Promise.all(digests).finally(() => { job.close() })
        all.catch(() => {})
        this.laterChunkDigests.set(bytes, all)
      }
    }
  }

  /** Sends a checkpoint this node just stored to the mesh. */
  async announce (checkpoint: Checkpoint, wantAck: boolean): Promise<void> {
    const id = checkpoint.id.toString()
    if (checkpoint.bytes.length <= this.init.inlineMaxBytes) {
      if (this.outgoing.bytes + checkpoint.bytes.length > BATCH_MAX_BYTES) this.flushOutgoing()
      this.outgoing.items.push(checkpoint.bytes)
      this.outgoing.bytes += checkpoint.bytes.length + ENVELOPE_OVERHEAD
      if (wantAck) this.outgoing.ack.push(id)
      this.scheduleFlush()
      return
    }
    const later = this.laterChunkDigests.get(checkpoint.bytes)
    this.laterChunkDigests.delete(checkpoint.bytes)
    // If the worker failed, the digests are computed here after all.
    const hashed = await later?.catch(() => undefined)
    const chunks = hashed === undefined
      ? chunkDigests(checkpoint.bytes, this.init.chunkBytes)
      : [sha256(checkpoint.bytes.subarray(0, this.init.chunkBytes)), ...hashed]
    const message: GossipAnnounce = {
      v: WIRE_VERSION, k: 'ann', id, stream: checkpoint.envelope.stream, seq: checkpoint.envelope.seq,
      size: checkpoint.bytes.length, chunkSize: this.init.chunkBytes, chunks, ack: wantAck
    }
    void this.c.mesh.publish(CHECKPOINT_TOPIC, encodeWire(message)).catch((err: Error) => { this.log.warn({ err: err.message, id }, 'announce failed') })
  }

  /** Heads of the given streams (all when absent) as each connected peer reports them. */
  async peerHeads (peerId: string, streams?: string[], signal?: AbortSignal): Promise<HeadsResponse['heads']> {
    const stream = await this.c.mesh.dialProtocol(peerId, HEADS_PROTOCOL, signal ?? AbortSignal.timeout(this.init.requestTimeoutMs))
    try {
      const lp = lpStream(stream)
      const options = { signal: signal ?? AbortSignal.timeout(this.init.requestTimeoutMs) }
      await lp.write(encodeWire({ v: WIRE_VERSION, ...(streams === undefined ? {} : { streams }) }), options)
      const response = decodeHeadsResponse((await lp.read(options)).subarray())
      if (response === undefined) throw new IdlemeshError('SYNC_BAD_RESPONSE', `peer ${peerId} sent a malformed heads response`, { status: 502 })
      return response.heads
    } finally {
      await stream.close().catch(() => {})
    }
  }

  /**
   * Pulls from `peerId` what this node lacks: all streams (anti-entropy), or `want` and their
   * missing ancestors. Returns how many checkpoints were stored. One sync per peer at a time.
   */
  async syncWith (peerId: string, want?: string[], signal?: AbortSignal): Promise<number> {
    const running = this.syncing.get(peerId)
    if (running !== undefined && want === undefined) return await running
    const run = this.pull(peerId, want, signal)
    if (want === undefined) this.syncing.set(peerId, run)
    try {
      return await run
    } finally {
      if (this.syncing.get(peerId) === run) this.syncing.delete(peerId)
    }
  }

  private syncAll (): void {
    for (const peerId of this.c.mesh.connectedPeers()) void this.syncWith(peerId).catch(() => {})
  }

  private scheduleFlush (): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    // Every gossip message costs a signature to make and one to check on every receiver, which
    // makes their number, not their size, the cost of replication under load. After a quiet
    // spell a checkpoint leaves at once; while messages keep coming, at most one goes out every
    // GOSSIP_INTERVAL_MS, carrying all that accumulated meanwhile.
    const wait = this.lastFlushAt + GOSSIP_INTERVAL_MS - performance.now()
    const flush = (): void => {
      this.flushScheduled = false
      this.lastFlushAt = performance.now()
      this.flushOutgoing()
    }
    if (wait <= 0) setImmediate(flush)
    else setTimeout(flush, wait)
  }

  private flushOutgoing (): void {
    const { items, ack } = this.outgoing
    if (items.length > 0) {
      this.outgoing = { items: [], ack: [], bytes: 0 }
      const message: GossipBatch = { v: WIRE_VERSION, k: 'cps', items, ack }
      void this.c.mesh.publish(CHECKPOINT_TOPIC, encodeWire(message)).catch((err: Error) => { this.log.warn({ err: err.message }, 'checkpoint gossip failed') })
    }
    if (this.pendingAcks.length > 0) {
      const ids = this.pendingAcks
      this.pendingAcks = []
      void this.c.mesh.publish(CHECKPOINT_TOPIC, encodeWire({ v: WIRE_VERSION, k: 'ack', ids })).catch(() => {})
    }
  }

  private reject (reason: string, from: string, detail: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1
    this.log.warn({ from, reason, detail }, 'rejected a checkpoint')
  }

  private async validateGossip (msg: PubsubMessage): Promise<MessageVerdict> {
    const message = decodeGossip(msg.data)
    if (message === undefined) {
      this.reject('CHECKPOINT_MALFORMED', msg.from, 'not a checkpoint gossip message')
      return 'reject'
    }
    if (message.k === 'ack') {
      for (const listener of this.ackListeners) listener(msg.from, message.ids)
      return 'valid'
    }
    if (message.k === 'ann') {
      if (this.c.store.has(message.id)) {
        if (message.ack) this.ackWhenDurable(message.id)
        return 'valid'
      }
      if (message.size > this.init.maxEnvelopeBytes) {
        this.reject('CHECKPOINT_TOO_LARGE', msg.from, `announced ${message.size} bytes`)
        return 'reject'
      }
      if (message.chunks.length !== Math.ceil(message.size / message.chunkSize)) {
        this.reject('CHECKPOINT_MALFORMED', msg.from, `announced ${message.chunks.length} chunks of ${message.chunkSize} bytes for ${message.size} bytes`)
        return 'reject'
      }
      if (message.ack) this.wantAck(message.id)
      this.backlog.set(message.id, { from: msg.receivedFrom, chunks: { chunkSize: message.chunkSize, digests: message.chunks } })
      // Forward the announcement only once this node holds the body: whoever hears it from
      // here pulls from here. The delivering neighbour has it (it did the same); the author
      // may not even be connected to this node.
      for (const source of new Set([msg.receivedFrom, msg.from])) {
        try {
          await this.syncWith(source, [message.id])
          if (this.c.store.has(message.id)) return 'valid'
        } catch (err) {
          this.log.warn({ from: source, id: message.id, err: (err as Error).message }, 'pull of an announced checkpoint failed')
        }
      }
      return 'ignore'
    }
    for (const id of message.ack) {
      // A copy this node already holds counts too: ack it as soon as it is on disk.
      if (this.c.store.has(id)) this.ackWhenDurable(id)
      else this.wantAck(id)
    }
    let missing = false
    let unknownKey = false
    for (const bytes of message.items) {
      try {
        const outcome = this.ingest(bytes)
        if (outcome === 'missing-parent') missing = true
      } catch (err) {
        this.reject(isIdlemeshError(err) ? err.code : 'CHECKPOINT_INVALID', msg.from, (err as Error).message)
        if (!isUnknownKey(err)) return 'reject'
        // Sealed with a key this node does not have yet: a rotation on its way round the mesh,
        // not misbehaviour. No penalty; anti-entropy brings it once the key is here.
        unknownKey = true
      }
    }
    if (missing) {
      // A gap (this node was away, or gossip overtook a parent): pull it from the neighbour
      // that delivered the message (it verified it, so it holds the parents), and do not
      // forward what this node could not fully verify.
      void this.syncWith(msg.receivedFrom).catch(() => {})
      return 'ignore'
    }
    if (unknownKey) return 'ignore'
    return 'valid'
  }

  /**
   * Verifies and stores one envelope. Synchronous up to the store's in-memory update; durability
   * follows by group commit (acks wait for it). Throws a typed error for anything invalid.
   */
  ingest (bytes: Uint8Array, hashed?: HashedBytes): IngestOutcome {
    if (bytes.length > this.init.maxEnvelopeBytes) throw new IdlemeshError('CHECKPOINT_TOO_LARGE', `envelope of ${bytes.length} bytes`, { status: 413 })
    const checkpoint = decodeEnvelope(bytes, hashed)
    const id = checkpoint.id.toString()
    if (this.c.store.has(id)) return 'duplicate'
    const { envelope } = checkpoint
    if (envelope.parents.some(p => !this.c.store.has(p.toString()))) {
      this.backlog.set(id, { from: '' })
      return 'missing-parent'
    }
    checkSeq(envelope, parent => this.c.store.seqOf(parent.toString()))
    if (!this.c.isMember(envelope.author)) throw new IdlemeshError('CHECKPOINT_NOT_MEMBER', `author ${envelope.author} is not on the allowlist`, { status: 403 })
    // decodeEnvelope computed the id from these very bytes, so only the signature is left.
    verifyAuthorSignature(envelope.author, checkpoint.id, envelope.sig)
    // The plaintext is only checked here: it goes to a reused buffer rather than fresh memory.
    openCheckpoint(envelope, this.c.keyring, this.scratch.take(envelope.ciphertext.length))
    const ackWanted = this.ackWanted.delete(id)
    // A copy is synced only when its poster is waiting on it (see CheckpointStore).
    this.c.store.put(checkpoint, { sync: ackWanted })
    this.backlog.delete(id)
    if (ackWanted) this.ackWhenDurable(id)
    return 'stored'
  }

  private wantAck (id: string): void {
    this.ackWanted.set(id, Date.now())
    if (this.ackWanted.size > MAX_ACK_WANTED) {
      const oldest = this.ackWanted.keys().next().value
      if (oldest !== undefined) this.ackWanted.delete(oldest)
    }
  }

  private ackWhenDurable (id: string): void {
    void this.c.store.sync().then(() => {
      this.pendingAcks.push(id)
      this.scheduleFlush()
    }, () => {})
  }

  /** A stream's heads, and a sample of the latest head's ancestors (see ancestorSample), cached per head. */
  private haveOf (stream: string): string[] {
    const { store } = this.c
    const heads = store.streamHeads(stream).map(h => h.id.toString())
    const latest = store.latest(stream)?.id.toString()
    if (latest === undefined) return heads
    let cached = this.samples.get(stream)
    if (cached?.head !== latest) {
      cached = { head: latest, ids: ancestorSample(latest, id => store.entry(id)) }
      this.samples.set(stream, cached)
    }
    return [...heads, ...cached.ids]
  }

  private async pull (peerId: string, want: string[] | undefined, signal?: AbortSignal): Promise<number> {
    const timeout = signal ?? AbortSignal.timeout(Math.max(this.init.requestTimeoutMs, 60_000))
    const { store } = this.c
    const have: Record<string, string[]> = {}
    for (const stream of store.streams()) have[stream] = this.haveOf(stream)
    const request: SyncRequest = { v: WIRE_VERSION, have, ...(want === undefined ? {} : { want }) }
    const stream = await this.c.mesh.dialProtocol(peerId, SYNC_PROTOCOL, timeout)
    let stored = 0
    try {
      // Chunks come at the serving peer's size, which may not be ours.
      const lp = lpStream(stream, { maxDataLength: Math.max(MAX_CHUNK_BYTES, SYNC_BATCH_BYTES) + 64 * 1024 })
      await lp.write(encodeWire(request), { signal: timeout })
      const ingestOne = (bytes: Uint8Array, hashed?: HashedBytes): void => {
        try {
          if (this.ingest(bytes, hashed) === 'stored') stored++
        } catch (err) {
          this.reject(isIdlemeshError(err) ? err.code : 'CHECKPOINT_INVALID', peerId, (err as Error).message)
          // A key not here yet skips that checkpoint (and, missing their parent, its children);
          // anything else means the peer sends invalid data: stop taking from it.
          if (!isUnknownKey(err)) throw err
        }
      }
      for (;;) {
        const frame = decodeSyncFrame((await lp.read({ signal: timeout })).subarray())
        if (frame === undefined) throw new IdlemeshError('SYNC_BAD_RESPONSE', `peer ${peerId} sent a malformed sync frame`, { status: 502 })
        if (frame.k === 'end') break
        if (frame.k === 'batch') {
          for (const bytes of frame.items) ingestOne(bytes)
          continue
        }
        if (frame.size > this.init.maxEnvelopeBytes) throw new IdlemeshError('CHECKPOINT_TOO_LARGE', `peer ${peerId} offered ${frame.size} bytes`, { status: 413 })
        // Each announced chunk is checked as soon as it is in, so a bad source is caught at its
        // first bad MiB rather than after the whole transfer.
        const assembler = new EnvelopeAssembler(frame.size, this.backlog.get(frame.id)?.chunks, this.hasher)
        let assembled: Awaited<ReturnType<EnvelopeAssembler['finish']>>
        try {
          for (let i = 0; i < frame.chunks; i++) {
            const chunk = await lp.read({ signal: timeout })
            assembler.push(chunk, chunk.byteLength)
          }
          assembled = await assembler.finish()
        } catch (err) {
          assembler.abort()
          if (isIdlemeshError(err) && err.code === 'CHECKPOINT_BAD_CHUNK') {
            this.reject('CHECKPOINT_BAD_CHUNK', peerId, `${frame.id}: ${err.message}`)
            throw new IdlemeshError('CHECKPOINT_BAD_CHUNK', `${frame.id} from ${peerId}: ${err.message}`, { status: 502 })
          }
          throw err
        }
        ingestOne(assembled.bytes, assembled.id === undefined ? undefined : { bytes: assembled.bytes, id: assembled.id })
      }
    } finally {
      await stream.close().catch(() => {})
    }
    // Group commit: everything this sync stored goes to disk in as few synced batches as it takes.
    if (stored > 0) await this.c.store.flush()
    if (stored > 0) this.log.debug({ peer: peerId, stored }, 'synced checkpoints')
    return stored
  }

  private async serveSync (stream: Stream, peerId: string): Promise<void> {
    const signal = AbortSignal.timeout(Math.max(this.init.requestTimeoutMs, 120_000))
    try {
      const lp = lpStream(stream)
      const request = decodeSyncRequest((await lp.read({ signal })).subarray())
      if (request === undefined) { stream.abort(new Error('malformed sync request')); return }
      const { store } = this.c
      const entry = (id: string): ReturnType<CheckpointStore['entry']> => store.entry(id)
      const have = Object.values(request.have).flat()
      let from: string[]
      if (request.want !== undefined) {
        from = request.want
      } else {
        const streams = request.streams ?? store.streams()
        from = []
        for (const name of streams) {
          const mine = store.streamHeads(name).map(h => h.id.toString())
          const theirs = request.have[name] ?? []
          if (mine.length === theirs.length && mine.every(id => theirs.includes(id))) continue
          from.push(...mine)
        }
      }
      const ids = missingFor(from, have, entry)
      let sent = 0
      // Small envelopes travel many to a frame (one write, one read, one decode for hundreds of
      // them); large ones in chunks. Read in slices: bounded memory however much the peer lacks.
      let batch: Uint8Array[] = []
      let batchBytes = 0
      const flushBatch = async (): Promise<void> => {
        if (batch.length === 0) return
        await lp.write(encodeWire({ k: 'batch', items: batch }), { signal })
        batch = []
        batchBytes = 0
      }
      for (let i = 0; i < ids.length; i += 256) {
        const slice = ids.slice(i, i + 256)
        const all = await store.getManyBytes(slice)
        for (let j = 0; j < slice.length; j++) {
          const bytes = all[j]
          if (bytes === undefined) continue
          sent++
          if (bytes.length <= SYNC_BATCH_BYTES) {
            if (batchBytes + bytes.length > SYNC_BATCH_BYTES) await flushBatch()
            batch.push(bytes)
            batchBytes += bytes.length
            continue
          }
          await flushBatch()
          const chunks = Math.ceil(bytes.length / this.init.chunkBytes)
          await lp.write(encodeWire({ k: 'env', id: slice[j], size: bytes.length, chunks }), { signal })
          // One chunk per write: each waits for the stream to drain, so a large envelope never
          // sits in memory twice over.
          for (let offset = 0; offset < bytes.length; offset += this.init.chunkBytes) {
            await lp.write(bytes.subarray(offset, offset + this.init.chunkBytes), { signal })
          }
        }
      }
      await flushBatch()
      await lp.write(encodeWire({ k: 'end', sent }), { signal })
      await stream.close({ signal })
    } catch (err) {
      this.log.debug({ peer: peerId, err: (err as Error).message }, 'sync request failed')
      stream.abort(err as Error)
    }
  }

  private async serveHeads (stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(this.init.requestTimeoutMs)
    try {
      const lp = lpStream(stream)
      const request = decodeHeadsRequest((await lp.read({ signal })).subarray())
      if (request === undefined) { stream.abort(new Error('malformed heads request')); return }
      const { store } = this.c
      const heads: HeadsResponse['heads'] = {}
      for (const name of request.streams ?? store.streams()) {
        const list = store.streamHeads(name)
        if (list.length > 0) heads[name] = list.map(h => [h.id.toString(), h.seq])
      }
      await lp.write(encodeWire({ v: WIRE_VERSION, heads }), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}

function isUnknownKey (err: unknown): boolean {
  return isIdlemeshError(err) && err.code === 'CHECKPOINT_UNKNOWN_KEY'
}
