import { createHash, randomBytes } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { afterAll, describe, expect, it } from 'vitest'
import { EnvelopeAssembler, OFF_THREAD_MIN_BYTES, type AnnouncedChunks } from '../../src/checkpoints/assembler.ts'
import { decodeEnvelope } from '../../src/checkpoints/format.ts'
import { OffThreadHasher } from '../../src/checkpoints/hasher.ts'
import { post, randomKeyring, randomSigner } from './format-helpers.ts'

const CHUNK = 1024 * 1024
const hasher = new OffThreadHasher()
afterAll(async () => { await hasher.close() })

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest())

/** An envelope of about `payloadBytes`, its chunk digests as an announcement carries them, its chunks as reads deliver them. */
function largeCheckpoint (payloadBytes: number, seq = 1): { bytes: Uint8Array, id: string, digests: AnnouncedChunks, reads: Uint8Array[][] } {
  const keyring = randomKeyring('k1')
  const signer = randomSigner()
  const parents = seq === 1 ? [] : [{ id: post([], { keyring, signer }).id, seq: seq - 1 }]
  const checkpoint = post([], { keyring, signer, parents, payload: new Uint8Array(randomBytes(payloadBytes)) })
  const { bytes } = checkpoint
  const digests: Uint8Array[] = []
  const reads: Uint8Array[][] = []
  for (let offset = 0; offset < bytes.length; offset += CHUNK) {
    const chunk = bytes.subarray(offset, offset + CHUNK)
    digests.push(sha256(chunk))
    // A read hands over a chunk as several buffers, split anywhere.
    reads.push([chunk.subarray(0, 5), chunk.subarray(5, 70_000), chunk.subarray(70_000)])
  }
  return { bytes, id: checkpoint.id.toString(), digests: { chunkSize: CHUNK, digests }, reads }
}

/** `bytes` as a peer with another chunk size serves them: reads of `readBytes`, none aligned with the announced chunks. */
function readsOf (bytes: Uint8Array, readBytes: number): Uint8Array[][] {
  const reads: Uint8Array[][] = []
  for (let offset = 0; offset < bytes.length; offset += readBytes) reads.push([bytes.subarray(offset, offset + readBytes)])
  return reads
}

function feed (assembler: EnvelopeAssembler, reads: Uint8Array[][]): void {
  for (const parts of reads) assembler.push(parts, parts.reduce((n, p) => n + p.length, 0))
}

describe('EnvelopeAssembler (pulled envelopes, chunk by chunk)', () => {
  it('off the main thread: puts the bytes together and hashes the id on the way, equal to decoding them', async () => {
    for (const seq of [1, 2]) {
      const { bytes, id, digests, reads } = largeCheckpoint(OFF_THREAD_MIN_BYTES + 123_457, seq)
      const assembler = new EnvelopeAssembler(bytes.length, digests, hasher)
      feed(assembler, reads)
      const result = await assembler.finish()
      expect(result.bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
      expect(Buffer.compare(result.bytes, bytes)).toBe(0)
      expect(result.id?.toString()).toBe(id)
      expect(decodeEnvelope(result.bytes, { bytes: result.bytes, id: result.id as CID }).id.toString()).toBe(decodeEnvelope(bytes).id.toString())
      // An id is taken only with the very bytes it was hashed from.
      expect(() => decodeEnvelope(bytes, { bytes: result.bytes, id: result.id as CID })).toThrow(/other bytes/)
    }
  })

  it('refuses a chunk that does not match its announced digest, on the main thread or off it', async () => {
    for (const size of [2 * CHUNK, OFF_THREAD_MIN_BYTES + 10]) {
      const { bytes, digests, reads } = largeCheckpoint(size)
      const bad = Uint8Array.from(reads[1]?.[1] as Uint8Array)
      bad[100] = (bad[100] as number) ^ 1
      ;(reads[1] as Uint8Array[])[1] = bad
      const assembler = new EnvelopeAssembler(bytes.length, digests, hasher)
      const outcome = (async () => { feed(assembler, reads); return await assembler.finish() })()
      await expect(outcome).rejects.toMatchObject({ code: 'CHECKPOINT_BAD_CHUNK', message: expect.stringContaining('chunk 1') })
      assembler.abort()
    }
  })

  it('checks the announced chunks whatever size the serving peer reads in (a relay with another chunk size)', async () => {
    for (const size of [3 * CHUNK, OFF_THREAD_MIN_BYTES + 10]) {
      for (const readBytes of [256 * 1024, 300_001, 4 * CHUNK]) {
        const { bytes, id, digests } = largeCheckpoint(size)
        const assembler = new EnvelopeAssembler(bytes.length, digests, hasher)
        feed(assembler, readsOf(bytes, readBytes))
        const result = await assembler.finish()
        expect(Buffer.compare(result.bytes, bytes)).toBe(0)
        expect(decodeEnvelope(result.bytes).id.toString()).toBe(id)

        // One flipped byte in announced chunk 2, wherever the reads cut: found, and named.
        const tampered = Uint8Array.from(bytes)
        tampered[2 * CHUNK + 12_345] = (tampered[2 * CHUNK + 12_345] as number) ^ 1
        const refusing = new EnvelopeAssembler(bytes.length, digests, hasher)
        const outcome = (async () => { feed(refusing, readsOf(tampered, readBytes)); return await refusing.finish() })()
        await expect(outcome).rejects.toMatchObject({ code: 'CHECKPOINT_BAD_CHUNK', message: expect.stringContaining('chunk 2 ') })
        refusing.abort()
      }
    }
  })

  it('refuses digests that cannot describe the size it is told', () => {
    const { bytes, digests } = largeCheckpoint(2 * CHUNK)
    expect(() => new EnvelopeAssembler(bytes.length + CHUNK, digests, hasher)).toThrow(expect.objectContaining({ code: 'SYNC_BAD_RESPONSE' }) as Error)
    expect(() => new EnvelopeAssembler(bytes.length, { chunkSize: CHUNK / 2, digests: digests.digests }, hasher)).toThrow(expect.objectContaining({ code: 'SYNC_BAD_RESPONSE' }) as Error)
  })

  it('without announced digests (an anti-entropy pull), still assembles and hashes the id', async () => {
    const { bytes, id, reads } = largeCheckpoint(OFF_THREAD_MIN_BYTES)
    const assembler = new EnvelopeAssembler(bytes.length, undefined, hasher)
    feed(assembler, reads)
    expect((await assembler.finish()).id?.toString()).toBe(id)
  })

  it('refuses more bytes than announced, and fewer', async () => {
    const { bytes, reads } = largeCheckpoint(2 * CHUNK)
    const short = new EnvelopeAssembler(bytes.length + 1, undefined, hasher)
    feed(short, reads)
    await expect(short.finish()).rejects.toMatchObject({ code: 'SYNC_BAD_RESPONSE' })
    const long = new EnvelopeAssembler(bytes.length - 1, undefined, hasher)
    expect(() => { feed(long, reads) }).toThrow(expect.objectContaining({ code: 'SYNC_BAD_RESPONSE' }) as Error)
  })

  it('leaves bytes that do not start like an envelope to decoding: no id is claimed for them', async () => {
    const junk = new Uint8Array(randomBytes(OFF_THREAD_MIN_BYTES))
    junk[0] = 0
    const assembler = new EnvelopeAssembler(junk.length, undefined, hasher)
    assembler.push([junk], junk.length)
    expect((await assembler.finish()).id).toBeUndefined()
  })
})

describe('OffThreadHasher', () => {
  it('hashes ranges as node:crypto does, and ends its thread once idle', async () => {
    const idle = new OffThreadHasher(50)
    const bytes = new Uint8Array(new SharedArrayBuffer(100_000))
    bytes.set(randomBytes(bytes.length))
    const view = bytes.subarray(1000)
    const job = idle.job(view)
    expect(idle.running).toBe(true)
    expect(Buffer.compare(await job.digest(10, 5000), sha256(view.subarray(10, 5010)))).toBe(0)
    job.update(0, 0, Uint8Array.of(7))
    job.update(0, 300)
    job.update(300, view.length - 300)
    expect(Buffer.compare(await job.final(), sha256(Buffer.concat([Uint8Array.of(7), view])))).toBe(0)
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(idle.running).toBe(false)
    // And starts again for the next job.
    const again = idle.job(bytes)
    expect(Buffer.compare(await again.digest(0, 64), sha256(bytes.subarray(0, 64)))).toBe(0)
    again.close()
    await idle.close()
  })

  it('settles every hash of a job whose worker is gone: the pending ones and those asked for later', async () => {
    const doomed = new OffThreadHasher()
    const bytes = new Uint8Array(new SharedArrayBuffer(1024))
    const job = doomed.job(bytes)
    job.update(0, 512)
    const pending = expect(job.digest(0, 1024)).rejects.toThrow()
    await doomed.close()
    await pending
    // Asked for after the worker went: rejects rather than waiting for a reply that cannot come.
    await expect(job.final()).rejects.toThrow(/gone/)
    await expect(job.digest(0, 10)).rejects.toThrow(/gone/)
  })

  it('without a working worker, checks the chunks on this thread and leaves the id to decoding', async () => {
    const broken = new OffThreadHasher(10_000, new URL('./no-such-worker.mjs', import.meta.url))
    const { bytes, id, digests, reads } = largeCheckpoint(OFF_THREAD_MIN_BYTES)
    const assembler = new EnvelopeAssembler(bytes.length, digests, broken)
    feed(assembler, reads)
    const result = await assembler.finish()
    expect(result.id).toBeUndefined()
    expect(decodeEnvelope(result.bytes).id.toString()).toBe(id)

    const bad = largeCheckpoint(OFF_THREAD_MIN_BYTES)
    const flipped = Uint8Array.from(bad.reads[2]?.[2] as Uint8Array)
    flipped[0] = (flipped[0] as number) ^ 1
    ;(bad.reads[2] as Uint8Array[])[2] = flipped
    const refusing = new EnvelopeAssembler(bad.bytes.length, bad.digests, broken)
    feed(refusing, bad.reads)
    await expect(refusing.finish()).rejects.toMatchObject({ code: 'CHECKPOINT_BAD_CHUNK', message: expect.stringContaining('chunk 2') })
    await broken.close()
  })
})
