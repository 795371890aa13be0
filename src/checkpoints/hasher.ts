import { Worker } from 'node:worker_threads'

interface Reply { job: number, tag: number, digest: Uint8Array }

/**
 * SHA-256 on a worker thread, over ranges of a SharedArrayBuffer the main thread fills. A large
 * checkpoint pulled from a peer is hashed twice (each chunk against the digest its author
 * announced, and the whole envelope for its id): about 80 ms for 64 MiB here, which on the main
 * thread slows the transfer it competes with and then delays the checkpoint. On the worker the
 * hashing runs on the other core while the chunks arrive.
 *
 * One worker, started at first use, unref'd (it never keeps a process alive) and ended after
 * `idleMs` without an open job: a thread costs megabytes that a node which once saw a large
 * checkpoint should not hold for good. If it fails, every pending hash rejects and the next job
 * starts a new one.
 */
export class OffThreadHasher {
  private worker?: Worker
  private nextJob = 1
  private openJobs = 0
  private idleTimer?: NodeJS.Timeout
  private readonly idleMs: number
  private readonly waiting = new Map<string, { resolve: (digest: Uint8Array) => void, reject: (err: Error) => void }>()

  private readonly workerUrl: URL

  constructor (idleMs = 10_000, workerUrl = new URL('./hash-worker.mjs', import.meta.url)) {
    this.idleMs = idleMs
    this.workerUrl = workerUrl
  }

  /** True while the worker thread exists. */
  get running (): boolean {
    return this.worker !== undefined
  }

  /** A hashing job over `bytes`, which must be a view of a SharedArrayBuffer. */
  job (bytes: Uint8Array): HashJob {
    if (!(bytes.buffer instanceof SharedArrayBuffer)) throw new TypeError('OffThreadHasher needs bytes backed by a SharedArrayBuffer')
    const worker = this.ensureWorker()
    clearTimeout(this.idleTimer)
    this.openJobs++
    const job = this.nextJob++
    worker.postMessage({ op: 'open', job, buffer: bytes.buffer })
    let ended = false
    const end = (): void => {
      if (ended) return
      ended = true
      if (--this.openJobs === 0) this.armIdle()
    }
    return new HashJob(job, bytes.byteOffset, worker, (tag) => this.expect(worker, job, tag), () => { this.cancel(job); end() }, end)
  }

  async close (): Promise<void> {
    clearTimeout(this.idleTimer)
    const worker = this.worker
    this.worker = undefined
    this.failAll(new Error('hasher closed'))
    await worker?.terminate()
  }

  private ensureWorker (): Worker {
    if (this.worker !== undefined) return this.worker
    const worker = new Worker(this.workerUrl)
    worker.unref()
    worker.on('message', (reply: Reply) => {
      const key = `${reply.job}:${reply.tag}`
      const waiter = this.waiting.get(key)
      this.waiting.delete(key)
      waiter?.resolve(new Uint8Array(reply.digest.buffer, reply.digest.byteOffset, reply.digest.byteLength))
    })
    const fail = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined
      this.failAll(err)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => { fail(new Error(`hash worker exited with code ${code}`)) })
    this.worker = worker
    return worker
  }

  private armIdle (): void {
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => { if (this.openJobs === 0) void this.close() }, this.idleMs)
    this.idleTimer.unref()
  }

  /** A reply to come from `worker`; rejects at once if that worker has failed or was closed. */
  private async expect (worker: Worker, job: number, tag: number): Promise<Uint8Array> {
    if (worker !== this.worker) throw new Error('the hash worker of this job is gone')
    return await new Promise((resolve, reject) => { this.waiting.set(`${job}:${tag}`, { resolve, reject }) })
  }

  private cancel (job: number): void {
    for (const [key, waiter] of this.waiting) {
      if (!key.startsWith(`${job}:`)) continue
      this.waiting.delete(key)
      waiter.reject(new Error('hash job closed'))
    }
  }

  private failAll (err: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(err)
    this.waiting.clear()
  }
}

/** Hashes for one buffer. Offsets are relative to the view the job was made with. */
export class HashJob {
  private nextTag = 0
  private readonly id: number
  private readonly base: number
  private readonly worker: Worker
  private readonly expect: (tag: number) => Promise<Uint8Array>
  private readonly cancel: () => void
  private readonly ended: () => void

  constructor (id: number, base: number, worker: Worker, expect: (tag: number) => Promise<Uint8Array>, cancel: () => void, ended: () => void) {
    this.id = id
    this.base = base
    this.worker = worker
    this.expect = expect
    this.cancel = cancel
    this.ended = ended
  }

  /** SHA-256 of bytes[offset, offset + length), as a digest of its own. */
  async digest (offset: number, length: number): Promise<Uint8Array> {
    const tag = this.nextTag++
    const reply = this.expect(tag)
    this.worker.postMessage({ op: 'digest', job: this.id, tag, offset: this.base + offset, length })
    return await reply
  }

  /** Feeds `prefix` (if any) and then bytes[offset, offset + length) to the job's running hash. */
  update (offset: number, length: number, prefix?: Uint8Array): void {
    this.worker.postMessage({ op: 'update', job: this.id, offset: this.base + offset, length, ...(prefix === undefined ? {} : { prefix }) })
  }

  /** The running hash's digest; ends the job. */
  async final (): Promise<Uint8Array> {
    const tag = this.nextTag++
    const reply = this.expect(tag)
    this.worker.postMessage({ op: 'final', job: this.id, tag })
    try {
      return await reply
    } finally {
      this.ended()
    }
  }

  /** Ends the job without a digest (the transfer failed); what is still pending rejects. */
  close (): void {
    this.worker.postMessage({ op: 'close', job: this.id })
    this.cancel()
  }
}
