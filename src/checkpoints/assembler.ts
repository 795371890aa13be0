import type { CID } from 'multiformats/cid'
import { IdlemeshError } from '../errors.ts'
import { chunkDigests, cidOfDigest, sha256 } from './crypto.ts'
import { idLayout } from './format.ts'
import type { HashJob, OffThreadHasher } from './hasher.ts'

/**
 * From this size a pulled envelope is hashed on the worker thread while it arrives; below it the
 * hashing takes less than the round trips to the worker.
 */
export const OFF_THREAD_MIN_BYTES = 4 * 1024 * 1024

/**
 * Puts an envelope pulled in chunks back together and checks each chunk, on arrival, against the
 * digest its author announced (pulls that follow an announcement have them). From
 * OFF_THREAD_MIN_BYTES on, the bytes go to shared memory and a worker hashes each chunk and, as
 * they come, the envelope's id (see idLayout), so decoding it afterwards costs no hashing.
 */
export class EnvelopeAssembler {
  readonly bytes: Uint8Array
  private readonly expected?: readonly Uint8Array[]
  private readonly job?: HashJob
  private readonly checks: Array<Promise<void>> = []
  private failure?: IdlemeshError
  /** The worker could not hash something: finish() checks on this thread instead. */
  private workerFailed = false
  /** Size of the chunks after the first one arrived (all but the last are that size). */
  private chunkBytes = 0
  private received = 0
  private chunks = 0
  /** How far the id's hash has been fed; null when the bytes do not start like an envelope. */
  private layout?: ReturnType<typeof idLayout> | null
  private fed = 1

  constructor (size: number, expected: readonly Uint8Array[] | undefined, hasher?: OffThreadHasher) {
    this.expected = expected
    if (hasher !== undefined && size >= OFF_THREAD_MIN_BYTES) {
      this.bytes = new Uint8Array(new SharedArrayBuffer(size))
      try {
        this.job = hasher.job(this.bytes)
      } catch {
        this.workerFailed = true
      }
    } else {
      this.bytes = new Uint8Array(size)
    }
  }

  /**
   * Adds the next chunk (the parts of one read). Throws CHECKPOINT_BAD_CHUNK for a chunk found not
   * to match its digest (off the main thread that may be a chunk or two after it arrived), and
   * SYNC_BAD_RESPONSE when the chunks outgrow the announced size.
   */
  push (parts: Iterable<Uint8Array>, byteLength: number): void {
    if (this.failure !== undefined) throw this.failure
    if (this.received + byteLength > this.bytes.length) throw new IdlemeshError('SYNC_BAD_RESPONSE', 'chunks exceed the announced size', { status: 502 })
    const start = this.received
    for (const part of parts) {
      this.bytes.set(part, this.received)
      this.received += part.length
    }
    const index = this.chunks++
    if (index === 0) this.chunkBytes = byteLength
    if (this.job === undefined) {
      if (this.expected !== undefined && !sameDigest(sha256(this.bytes.subarray(start, this.received)), this.expected[index])) throw badChunk(index)
      return
    }
    if (this.expected !== undefined) {
      const want = this.expected[index]
      this.checks.push(this.job.digest(start, byteLength).then((digest) => {
        if (!sameDigest(digest, want)) this.failure ??= badChunk(index)
      }, () => { this.workerFailed = true }))
    }
    this.feedId()
  }

  /** Waits for the last checks; the bytes, and their id when it was hashed on the way. */
  async finish (): Promise<{ bytes: Uint8Array, id?: CID }> {
    if (this.received !== this.bytes.length) throw new IdlemeshError('SYNC_BAD_RESPONSE', `${this.received} of the ${this.bytes.length} announced bytes arrived`, { status: 502 })
    await Promise.all(this.checks)
    if (this.failure !== undefined) throw this.failure
    if (this.job === undefined) return { bytes: this.bytes }
    if (!this.workerFailed && this.layout !== null && this.layout !== undefined) {
      try {
        return { bytes: this.bytes, id: cidOfDigest(await this.job.final()) }
      } catch {
        this.workerFailed = true
      }
    }
    this.job.close()
    // The worker failed (or the bytes are not an envelope): check here what it did not, and
    // leave the id to decoding.
    if (this.workerFailed && this.expected !== undefined) {
      const digests = chunkDigests(this.bytes, this.chunkBytes)
      const bad = digests.findIndex((digest, i) => !sameDigest(digest, this.expected?.[i]))
      if (bad !== -1) throw badChunk(bad)
    }
    return { bytes: this.bytes }
  }

  /** Gives up (the pull failed): the worker forgets the job. */
  abort (): void {
    this.job?.close()
  }

  /** Feeds the id's hash with what arrived since last time, minus the signature entry. */
  private feedId (): void {
    const job = this.job as HashJob
    if (this.layout === undefined) {
      if (this.received < 9) return
      this.layout = idLayout(this.bytes.subarray(0, 9)) ?? null
      if (this.layout === null) return
      job.update(0, 0, this.layout.prefix)
    }
    if (this.layout === null) return
    const { sigStart, sigEnd } = this.layout
    const end = this.received
    if (this.fed < sigStart) {
      const upTo = Math.min(end, sigStart)
      job.update(this.fed, upTo - this.fed)
      this.fed = upTo
    }
    if (this.fed >= sigStart && this.fed < sigEnd) this.fed = Math.min(end, sigEnd)
    if (this.fed >= sigEnd && end > this.fed) {
      job.update(this.fed, end - this.fed)
      this.fed = end
    }
  }
}

function sameDigest (digest: Uint8Array, want: Uint8Array | undefined): boolean {
  return want !== undefined && Buffer.compare(digest, want) === 0
}

function badChunk (index: number): IdlemeshError {
  return new IdlemeshError('CHECKPOINT_BAD_CHUNK', `chunk ${index} does not match the digest its author announced`, { status: 502 })
}
