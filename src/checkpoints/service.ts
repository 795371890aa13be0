import { CID } from 'multiformats/cid'
import type { Logger } from '../logger.ts'
import type { Mesh } from '../mesh/index.ts'
import type { Membership } from '../membership/index.ts'
import { IdlemeshError } from '../errors.ts'
import type { Signer } from './crypto.ts'
import type { Keyring } from './keyring.ts'
import { compareHeads, decodeEnvelope, openCheckpoint, pickLatest, sealCheckpoint, validateStreamName, type Checkpoint, type Head } from './format.ts'
import { verifyChain } from './verify-chain.ts'
import type { CheckpointStore } from './store.ts'
import type { Replicator } from './replication.ts'
import { decodeHeadRecord, encodeHeadRecord, headRecordKey } from './dht-record.ts'
import type {
  CheckpointHealth, CheckpointService, CheckpointView, HistoryOptions, LatestOptions, LatestResult, PostInput, PostResult, StreamAgreement, StreamSummary
} from './service-types.ts'

export interface CheckpointServiceInit {
  /** Largest payload a client may post: 64 MiB. */
  maxPayloadBytes: number
  /** How long a post with replicas=N waits for confirmations, ms. */
  replicaTimeoutMs: number
  /** How long `latest` asks peers and the DHT before answering, ms. */
  latestQueryTimeoutMs: number
  /** A stream's head is published to the DHT at most this often, ms. */
  dhtPublishIntervalMs: number
}

export interface CheckpointServiceComponents {
  mesh: Mesh
  membership: Membership
  store: CheckpointStore
  replicator: Replicator
  keyring: Keyring
  signer: Signer
  logger: Logger
}

export function notFound (what: string): IdlemeshError {
  return new IdlemeshError('CHECKPOINT_NOT_FOUND', what, { status: 404 })
}

export function toView (checkpoint: Checkpoint): CheckpointView {
  const { envelope } = checkpoint
  return {
    id: checkpoint.id.toString(),
    stream: envelope.stream,
    seq: envelope.seq,
    parents: envelope.parents.map(p => p.toString()),
    author: envelope.author,
    time: envelope.time,
    meta: envelope.meta,
    keyId: envelope.keyId,
    size: checkpoint.bytes.length
  }
}

/** The checkpoint service of one node: local posts, reads that consult the mesh, health. */
export function createCheckpointService (c: CheckpointServiceComponents, init: CheckpointServiceInit): CheckpointService & { stop: () => void } {
  const log = c.logger.child({ module: 'checkpoints' })
  const dhtTimers = new Map<string, NodeJS.Timeout>()
  const dhtLastPut = new Map<string, number>()

  const publishHead = (stream: string): void => {
    if (dhtTimers.has(stream)) return
    const wait = Math.max(0, (dhtLastPut.get(stream) ?? 0) + init.dhtPublishIntervalMs - Date.now())
    const timer = setTimeout(() => {
      dhtTimers.delete(stream)
      dhtLastPut.set(stream, Date.now())
      const latest = c.store.latest(stream)
      if (latest === undefined) return
      const value = encodeHeadRecord({ stream, id: latest.id, seq: latest.seq }, c.signer)
      void (async () => {
        try {
          for await (const _ of c.mesh.libp2p.services.dht.put(headRecordKey(stream), value, { signal: AbortSignal.timeout(10_000) })) { /* drain the query */ }
        } catch (err) {
          log.debug({ stream, err: (err as Error).message }, 'DHT head publish failed')
        }
      })()
    }, wait)
    timer.unref()
    dhtTimers.set(stream, timer)
  }

  const readCheckpoint = async (id: string): Promise<Checkpoint> => {
    const bytes = await c.store.getBytes(id)
    if (bytes === undefined) throw notFound(`no checkpoint ${id} on this node`)
    return decodeEnvelope(bytes)
  }

  const waitForReplicas = async (id: string, replicas: number, signal?: AbortSignal): Promise<string[]> => {
    const confirmed = new Set<string>()
    return await new Promise<string[]>((resolve, reject) => {
      const finish = (err?: IdlemeshError): void => {
        clearTimeout(timer)
        unsubscribe()
        if (err !== undefined) reject(err)
        else resolve([...confirmed])
      }
      const unsubscribe = c.replicator.onAck((from, ids) => {
        if (!ids.includes(id)) return
        confirmed.add(from)
        if (confirmed.size >= replicas) finish()
      })
      const timer = setTimeout(() => {
        const err = new IdlemeshError('REPLICAS_TIMEOUT', `checkpoint ${id} is stored on this node, but only ${confirmed.size} of ${replicas} other nodes confirmed a copy within ${init.replicaTimeoutMs} ms; it keeps replicating`, { status: 504 })
        Object.assign(err, { details: { id, confirmed: confirmed.size, required: replicas, confirmedBy: [...confirmed] } })
        finish(err)
      }, init.replicaTimeoutMs)
      signal?.addEventListener('abort', () => { finish(new IdlemeshError('CANCELLED', 'the client went away', { status: 499 })) }, { once: true })
    })
  }

  const askPeers = async (stream: string, timeoutMs: number): Promise<{ asked: number, answered: number, best?: Head & { from: string } }> => {
    const peers = c.mesh.connectedPeers().filter(p => c.membership.get(p)?.state === 'alive' || c.membership.get(p) === undefined)
    const signal = AbortSignal.timeout(timeoutMs)
    let answered = 0
    let best: (Head & { from: string }) | undefined
    // The DHT covers members this node has no connection to. It is asked alongside the peers, not
    // after them: a peer that never answers holds its request until the timeout, and a lookup
    // started then would be aborted before it began.
    const fromDht = (async (): Promise<(Head & { from: string }) | undefined> => {
      let found: (Head & { from: string }) | undefined
      try {
        for await (const event of c.mesh.libp2p.services.dht.get(headRecordKey(stream), { signal })) {
          if (event.name !== 'VALUE') continue
          try {
            const record = decodeHeadRecord(event.value, headRecordKey(stream))
            if (found === undefined || compareHeads(record, found) > 0) found = { id: record.id, seq: record.seq, from: record.publisher }
          } catch {}
        }
      } catch {}
      return found
    })()
    await Promise.all(peers.map(async peer => {
      try {
        const heads = await c.replicator.peerHeads(peer, [stream], signal)
        answered++
        for (const [id, seq] of heads[stream] ?? []) {
          const head = { id: CID.parse(id), seq, from: peer }
          if (best === undefined || compareHeads(head, best) > 0) best = head
        }
      } catch {}
    }))
    // On a tie a connected peer stays the source: the record's publisher may be out of reach.
    const record = await fromDht
    if (record !== undefined && (best === undefined || compareHeads(record, best) > 0)) best = record
    return { asked: peers.length, answered, ...(best === undefined ? {} : { best }) }
  }

  return {
    async post (input: PostInput): Promise<PostResult> {
      const stream = validateStreamName(input.stream)
      if (input.payload.length === 0) throw new IdlemeshError('CHECKPOINT_EMPTY', 'a checkpoint needs a payload: the body is empty', { status: 400 })
      if (input.payload.length > init.maxPayloadBytes) throw new IdlemeshError('BODY_TOO_LARGE', `payload is ${input.payload.length} bytes; the limit is ${init.maxPayloadBytes}`, { status: 413 })
      const replicas = input.replicas ?? 0
      if (!Number.isInteger(replicas) || replicas < 0) throw new IdlemeshError('REPLICAS_INVALID', 'replicas must be a non-negative integer', { status: 400 })
      if (replicas > 0) {
        const others = c.membership.alive().filter(m => !m.self).length
        if (replicas > others) {
          throw new IdlemeshError('REPLICAS_UNAVAILABLE', `replicas=${replicas} but only ${others} other node(s) are alive; nothing was stored`, { status: 409 })
        }
      }
      const checkpoint = sealCheckpoint({
        stream,
        parents: c.store.streamHeads(stream),
        payload: input.payload,
        meta: { ...input.meta, size: input.payload.length },
        keyring: c.keyring,
        signer: c.signer,
        ...c.replicator.sealHooks(input.payload.length)
      })
      const id = checkpoint.id.toString()
      // Listen for acks before anyone can send one.
      const replicated = replicas > 0 ? waitForReplicas(id, replicas, input.signal) : Promise.resolve([])
      replicated.catch(() => {})
      const { durable } = c.store.put(checkpoint)
      // Replication starts while the local write is in flight (the store serves unflushed
      // envelopes); the client still hears back only once the checkpoint is on this disk.
      void c.replicator.announce(checkpoint, replicas > 0).catch((err: Error) => { log.warn({ id, err: err.message }, 'announce failed; anti-entropy will spread the checkpoint') })
      await durable
      publishHead(stream)
      log.info({ id, stream, seq: checkpoint.envelope.seq, bytes: checkpoint.bytes.length, replicas }, 'checkpoint posted')
      return { ...toView(checkpoint), confirmedBy: await replicated }
    },

    async latest (streamName: string, options: LatestOptions = {}): Promise<LatestResult> {
      const stream = validateStreamName(streamName)
      let asked = 0
      let answered = 0
      let source: LatestResult['source'] = 'local'
      let confirmed = false
      if (options.local !== true) {
        const peers = await askPeers(stream, options.timeoutMs ?? init.latestQueryTimeoutMs)
        asked = peers.asked
        answered = peers.answered
        const local = c.store.latest(stream)
        const best = peers.best
        if (best !== undefined && (local === undefined || compareHeads(best, local) > 0) && !c.store.has(best.id.toString())) {
          try {
            await c.replicator.syncWith(best.from, [best.id.toString()], AbortSignal.timeout(Math.max(5000, options.timeoutMs ?? init.latestQueryTimeoutMs)))
            source = 'peer'
          } catch (err) {
            log.warn({ stream, from: best.from, err: (err as Error).message }, 'could not fetch the newer latest a peer reported')
          }
        }
        const final = c.store.latest(stream)
        confirmed = answered > 0 && final !== undefined && (best === undefined || compareHeads(best, final) <= 0)
      }
      const head = c.store.latest(stream)
      if (head === undefined) throw notFound(`stream ${stream} has no checkpoint on this node or its peers`)
      const checkpoint = await readCheckpoint(head.id.toString())
      return { checkpoint: toView(checkpoint), payload: openCheckpoint(checkpoint.envelope, c.keyring), confirmed, peersAsked: asked, peersAnswered: answered, source }
    },

    async get (id: string) {
      let cid: CID
      try {
        cid = CID.parse(id)
      } catch {
        throw new IdlemeshError('CHECKPOINT_BAD_ID', `${id} is not a checkpoint id (a CID)`, { status: 400 })
      }
      const checkpoint = await readCheckpoint(cid.toString())
      return { checkpoint: toView(checkpoint), payload: openCheckpoint(checkpoint.envelope, c.keyring) }
    },

    async history (streamName: string, options: HistoryOptions = {}): Promise<CheckpointView[]> {
      const stream = validateStreamName(streamName)
      const ids = await c.store.history(stream, { limit: options.limit ?? 50, ...(options.beforeSeq === undefined ? {} : { beforeSeq: options.beforeSeq }) })
      const all = await c.store.getManyBytes(ids)
      return all.flatMap(bytes => bytes === undefined ? [] : [toView(decodeEnvelope(bytes))])
    },

    async streams (): Promise<StreamSummary[]> {
      return c.store.streams().map(stream => {
        const latest = c.store.latest(stream) as Head
        return { stream, count: c.store.count(stream), heads: c.store.streamHeads(stream).length, latest: { id: latest.id.toString(), seq: latest.seq } }
      })
    },

    async verify (streamName: string, options: { payloads?: boolean } = {}) {
      const stream = validateStreamName(streamName)
      const heads = c.store.streamHeads(stream).map(h => h.id)
      if (heads.length === 0) throw notFound(`stream ${stream} has no checkpoint on this node`)
      return await verifyChain(heads, async (id) => await c.store.getBytes(id.toString()), options.payloads === true ? { keyring: c.keyring } : {})
    },

    async health (): Promise<CheckpointHealth> {
      const byStream = new Map<string, StreamAgreement>()
      const agreement = (stream: string): StreamAgreement => {
        let a = byStream.get(stream)
        if (a === undefined) {
          a = { stream, byMember: {}, unanswered: [], agree: false }
          byStream.set(stream, a)
        }
        return a
      }
      const record = (peer: string, heads: Record<string, Array<[string, number]>>): void => {
        for (const [stream, list] of Object.entries(heads)) {
          const latest = pickLatest(list.map(([id, seq]) => ({ id: CID.parse(id), seq })))
          agreement(stream).byMember[peer] = latest === undefined ? null : { id: latest.id.toString(), seq: latest.seq }
        }
      }
      record(c.mesh.peerId, Object.fromEntries(c.store.streams().map(s => [s, c.store.streamHeads(s).map(h => [h.id.toString(), h.seq] as [string, number])])))
      const others = c.membership.alive().filter(m => !m.self)
      const signal = AbortSignal.timeout(1000)
      const answered = [c.mesh.peerId]
      const unanswered: string[] = []
      await Promise.all(others.map(async member => {
        try {
          record(member.peerId, await c.replicator.peerHeads(member.peerId, undefined, signal))
          answered.push(member.peerId)
        } catch {
          unanswered.push(member.peerId)
        }
      }))
      for (const a of byStream.values()) {
        // A member that answered without this stream does not hold it: that is a disagreement.
        for (const peer of answered) a.byMember[peer] ??= null
        a.unanswered = [...unanswered].sort()
        const values = Object.values(a.byMember)
        a.agree = unanswered.length === 0 && values.every(v => v !== null && v.id === values[0]?.id)
      }
      return {
        streams: [...byStream.values()].sort((x, y) => x.stream.localeCompare(y.stream)),
        syncBacklog: c.replicator.backlogSize,
        rejected: { ...c.replicator.rejected },
        stored: c.store.size
      }
    },

    stop () {
      for (const timer of dhtTimers.values()) clearTimeout(timer)
      dhtTimers.clear()
    }
  }
}
