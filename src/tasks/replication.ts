import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { Logger } from '../logger.ts'
import type { MessageVerdict, PubsubMessage } from '../mesh/index.ts'
import type { TaskMesh } from './index.ts'
import type { TaskStore } from './store.ts'
import { digestOf, type TaskRecord } from './model.ts'
import { GOSSIP_BATCH_BYTES, MAX_WIRE_BYTES, SYNC_PROTOCOL, TASK_TOPIC, WIRE_VERSION } from './constants.ts'
import { decodeGossip, decodeSyncFrame, decodeSyncRequest, encodeWire, parseRecord } from './wire.ts'

export interface TaskReplicationInit {
  syncIntervalMs: number
  requestTimeoutMs: number
}

/**
 * Spreads task records: every local change is gossiped (the changes of one turn of the event
 * loop share one signed message), and on every new connection and every `syncIntervalMs` each
 * node pulls from each peer the records whose digests differ, so a node that was away or missed
 * a message converges by itself. Records are whole states merged by `mergeRecords`, so receiving
 * one twice or out of order is harmless.
 */
export class TaskReplication {
  readonly counters = { gossipSent: 0, gossipReceived: 0, rejected: 0, synced: 0 }
  private readonly mesh: TaskMesh
  private readonly store: TaskStore
  private readonly log: Logger
  private readonly init: TaskReplicationInit
  private outgoing = new Map<string, TaskRecord>()
  private flushScheduled = false
  private timer?: NodeJS.Timeout
  private readonly syncing = new Map<string, Promise<number>>()
  private readonly onConnect = (peerId: string): void => { void this.syncWith(peerId).catch(() => {}) }
  private readonly onChange = (record: TaskRecord, _previous: TaskRecord | undefined, origin: 'local' | 'remote'): void => {
    // A remote change reached us by gossip, which forwards it on its own; a local one is ours to send.
    if (origin === 'local') this.queue(record)
  }

  private started = false

  constructor (components: { mesh: TaskMesh, store: TaskStore, logger: Logger }, init: TaskReplicationInit) {
    this.mesh = components.mesh
    this.store = components.store
    this.log = components.logger
    this.init = init
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.mesh.setValidator(TASK_TOPIC, (msg) => this.validate(msg))
    this.mesh.subscribe(TASK_TOPIC, () => {})
    this.mesh.handle(SYNC_PROTOCOL, (stream) => { void this.serveSync(stream) }, { maxInboundStreams: 64 })
    this.mesh.on('peer:connect', this.onConnect)
    this.store.on('change', this.onChange)
    this.timer = setInterval(() => { for (const peer of this.mesh.connectedPeers()) void this.syncWith(peer).catch(() => {}) }, this.init.syncIntervalMs)
    this.timer.unref()
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    clearInterval(this.timer)
    this.mesh.off('peer:connect', this.onConnect)
    this.store.off('change', this.onChange)
    this.flush()
  }

  private queue (record: TaskRecord): void {
    this.outgoing.set(record.id, record)
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => {
      this.flushScheduled = false
      this.flush()
    })
  }

  private flush (): void {
    if (this.outgoing.size === 0) return
    const records = [...this.outgoing.values()]
    this.outgoing = new Map()
    let batch: TaskRecord[] = []
    let bytes = 0
    const send = (): void => {
      if (batch.length === 0) return
      const message = encodeWire({ v: WIRE_VERSION, k: 'recs', items: batch })
      batch = []
      bytes = 0
      this.counters.gossipSent++
      void this.mesh.publish(TASK_TOPIC, message).catch((err: Error) => { this.log.debug({ err: err.message }, 'tasks: gossip not sent; anti-entropy will carry it') })
    }
    for (const record of records) {
      const size = encodeWire(record).length
      if (bytes + size > GOSSIP_BATCH_BYTES) send()
      batch.push(record)
      bytes += size
    }
    send()
  }

  private validate (msg: PubsubMessage): MessageVerdict {
    const message = decodeGossip(msg.data)
    if (message === undefined) {
      this.counters.rejected++
      this.log.warn({ from: msg.from }, 'tasks: rejected a malformed gossip message')
      return 'reject'
    }
    const records: TaskRecord[] = []
    for (const item of message.items) {
      const record = parseRecord(item)
      if (record === undefined) {
        this.counters.rejected++
        this.log.warn({ from: msg.from }, 'tasks: rejected a malformed task record')
        return 'reject'
      }
      records.push(record)
    }
    this.counters.gossipReceived++
    for (const record of records) this.store.merge(record, 'remote')
    return 'valid'
  }

  /** Pulls from `peerId` every record whose digest differs from ours. Returns how many changed ours. */
  async syncWith (peerId: string): Promise<number> {
    const running = this.syncing.get(peerId)
    if (running !== undefined) return await running
    const run = this.pull(peerId).finally(() => { this.syncing.delete(peerId) })
    this.syncing.set(peerId, run)
    return await run
  }

  private async pull (peerId: string): Promise<number> {
    const signal = AbortSignal.timeout(Math.max(this.init.requestTimeoutMs, 30_000))
    const stream = await this.mesh.dialProtocol(peerId, SYNC_PROTOCOL, signal)
    let changed = 0
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_WIRE_BYTES })
      await lp.write(encodeWire({ v: WIRE_VERSION, digests: this.store.digests() }), { signal })
      for (;;) {
        const frame = decodeSyncFrame((await lp.read({ signal })).subarray())
        if (frame === undefined) throw new Error(`peer ${peerId} sent a malformed sync frame`)
        if (frame.k === 'end') break
        for (const item of frame.items) {
          const record = parseRecord(item)
          if (record === undefined) { this.counters.rejected++; continue }
          if (this.store.merge(record, 'remote').changed) changed++
        }
      }
    } finally {
      await stream.close().catch(() => {})
    }
    if (changed > 0) {
      this.counters.synced += changed
      this.log.debug({ peer: peerId, changed }, 'tasks: synced records')
    }
    return changed
  }

  private async serveSync (stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(Math.max(this.init.requestTimeoutMs, 30_000))
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_WIRE_BYTES })
      const request = decodeSyncRequest((await lp.read({ signal })).subarray())
      if (request === undefined) { stream.abort(new Error('malformed sync request')); return }
      let batch: TaskRecord[] = []
      let bytes = 0
      let sent = 0
      for (const record of this.store.all()) {
        if (request.digests[record.id] === digestOf(record)) continue
        const size = encodeWire(record).length
        if (bytes + size > MAX_WIRE_BYTES / 2 && batch.length > 0) {
          await lp.write(encodeWire({ k: 'recs', items: batch }), { signal })
          batch = []
          bytes = 0
        }
        batch.push(record)
        bytes += size
        sent++
      }
      if (batch.length > 0) await lp.write(encodeWire({ k: 'recs', items: batch }), { signal })
      await lp.write(encodeWire({ k: 'end', sent }), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}
