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

/** What an announcement says of a large envelope's chunks: their size and each one's SHA-256. */
export interface AnnouncedChunks {
  chunkSize: number
  digests: readonly Uint8Array[]
}

/**
 * Puts an envelope pulled in chunks back together and checks each chunk, as soon as all its bytes
 * are in, against the digest its author announced (pulls that follow an announcement have them).
 * The announced chunks are the author's; the reads are whatever the serving peer sends, which may
 * be a relay configured with another chunk size, so the two are not assumed to line up. From
 * OFF_THREAD_MIN_BYTES on, the bytes go to shared memory and a worker hashes each chunk and, as
 * they come, the envelope's id (see idLayout), so decoding it afterwards costs no hashing.
 */
export class EnvelopeAssembler {
  readonly bytes: Uint8Array
  private readonly expected?: AnnouncedChunks
  private readonly job?: HashJob
  private readonly checks: Array<Promise<void>> = []
  private failure?: IdlemeshError
  /** The worker could not hash something: finish() checks on this thread instead. */
  private workerFailed = false
  private received = 0
  /** Announced chunks checked (or, off the main thread, sent to be checked) so far. */
  private checked = 0
  /** How far the id's hash has been fed; null when the bytes do not start like an envelope. */
  private layout?: ReturnType<typeof idLayout> | null
  private fed = 1

  /** Throws SYNC_BAD_RESPONSE when `expected` cannot describe `size` bytes. */
  constructor (size: number, expected: AnnouncedChunks | undefined, hasher?: OffThreadHasher) {
    if (expected !== undefined && (expected.chunkSize < 1 || expected.digests.length !== Math.ceil(size / expected.chunkSize))) {
      throw new IdlemeshError('SYNC_BAD_RESPONSE', `${size} bytes do not make the ${expected.digests.length} chunks of ${expected.chunkSize} bytes announced`, { status: 502 })
    }
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
   * Adds the next read (its parts). Throws CHECKPOINT_BAD_CHUNK for a chunk found not to match its
   * digest (off the main thread that may be a read or two after it arrived), and
   * SYNC_BAD_RESPONSE when the reads outgrow the announced size.
   */
  push (parts: Iterable<Uint8Array>, byteLength: number): void {
    if (this.failure !== undefined) throw this.failure
    if (this.received + byteLength > this.bytes.length) throw new IdlemeshError('SYNC_BAD_RESPONSE', 'chunks exceed the announced size', { status: 502 })
    for (const part of parts) {
      this.bytes.set(part, this.received)
      this.received += part.length
    }
    this.checkCompleteChunks()
    if (this.job !== undefined) this.feedId()
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
      const digests = chunkDigests(this.bytes, this.expected.chunkSize)
      const bad = digests.findIndex((digest, i) => !sameDigest(digest, this.expected?.digests[i]))
      if (bad !== -1) throw badChunk(bad)
    }
    return { bytes: this.bytes }
  }

  /** Gives up (the pull failed): the worker forgets the job. */
  abort (): void {
    this.job?.close()
  }

  /** Checks every announced chunk whose bytes have all arrived and that is not checked yet. */
  private checkCompleteChunks (): void {
    if (this.expected === undefined) return
    const { chunkSize, digests } = this.expected
    while (this.checked < digests.length) {
      const index = this.checked
      const start = index * chunkSize
      const length = Math.min(chunkSize, this.bytes.length - start)
      if (start + length > this.received) return
      this.checked++
      const want = digests[index]
      if (this.job === undefined) {
        if (!sameDigest(sha256(this.bytes.subarray(start, start + length)), want)) throw (this.failure = badChunk(index))
        continue
      }
      this.checks.push(this.job.digest(start, length).then((digest) => {
        if (!sameDigest(digest, want)) this.failure ??= badChunk(index)
      }, () => { this.workerFailed = true }))
    }
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
