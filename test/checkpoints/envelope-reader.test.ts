import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { readCanonicalEnvelope } from '../../src/checkpoints/envelope-reader.ts'
import { decodeEnvelope, encodeHeader, type Checkpoint, type CheckpointHeader, type CheckpointMeta } from '../../src/checkpoints/format.ts'
import { post, randomKeyring, randomSigner } from './format-helpers.ts'

const keyring = randomKeyring('k1')
const signer = randomSigner()
const root = post([], { keyring, signer })

/** A comparable form: CIDs as strings, bytes as hex, objects as their entries in key order (or sorted). */
function plain (value: unknown, sorted = false): unknown {
  const cid = CID.asCID(value)
  if (cid !== null) return `cid:${cid.toString()}`
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('hex')}`
  if (Array.isArray(value)) return value.map(v => plain(v, sorted))
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([k, v]) => [k, plain(v, sorted)])
    return sorted ? entries.sort(([a], [b]) => String(a) < String(b) ? -1 : 1) : entries
  }
  return value
}

/** What dag-cbor makes of `bytes`: its decoding, and whether encoding that gives back the very bytes. */
function reference (bytes: Uint8Array): { value: Record<string, unknown>, canonical: boolean } | undefined {
  try {
    const value = dagCbor.decode<Record<string, unknown>>(bytes)
    return { value, canonical: Buffer.compare(dagCbor.encode(value), bytes) === 0 }
  } catch {
    return undefined
  }
}

/** Whatever the reader accepts is canonical dag-cbor, decoded as dag-cbor decodes it, with the header dag-cbor encodes. */
function expectFaithful (bytes: Uint8Array): boolean {
  const read = readCanonicalEnvelope(bytes)
  if (read === undefined) return false
  const ref = reference(bytes)
  expect(ref?.canonical).toBe(true)
  expect(plain(read.value)).toEqual(plain(ref?.value))
  expect(Buffer.compare(read.header, encodeHeader(ref?.value as unknown as CheckpointHeader))).toBe(0)
  return true
}

/** Envelopes covering every CBOR width of seq, time, lengths and counts, and every meta field. */
function variety (): Checkpoint[] {
  const metas: CheckpointMeta[] = [
    {},
    { label: 'x' },
    { size: 0 },
    { kind: 'handoff', size: 23, contentType: 'text/plain; charset=utf-8', label: 'é 🙂 ' + 'L'.repeat(200) },
    { size: 24, user: { a: '1' } },
    // Integer-like and mixed keys: JS objects reorder those, dag-cbor sorts by length then bytes.
    { size: 65_536, user: { 10: 'ten', 1: 'one', a: '', B: 'b', '_': 'é', 'a.b-c': '🙂', ['k'.repeat(64)]: 'long key' } },
    { user: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`key${i}`, 'v'.repeat(i * 7)])) }
  ]
  const out: Checkpoint[] = []
  const seqs = [1, 2, 23, 24, 25, 255, 256, 65_535, 65_536, 2 ** 32, 2 ** 40]
  const times = [0, 23, 24, 255, 65_536, 2 ** 32 - 1, 2 ** 32, Date.now()]
  const payloads = [0, 7, 8, 239, 240, 65_519, 65_520]
  for (let i = 0; i < seqs.length; i++) {
    const seq = seqs[i] as number
    const parents = seq === 1 ? [] : Array.from({ length: 1 + (i % 3) }, (_, j) => ({ id: post([], { keyring, signer, time: j }).id, seq: seq - 1 }))
    out.push(post([], {
      keyring,
      signer,
      parents,
      time: times[i % times.length] as number,
      meta: metas[i % metas.length] as CheckpointMeta,
      payload: new Uint8Array(payloads[i % payloads.length] as number),
      stream: i % 2 === 0 ? 'owner/repo' : 'a'.repeat(128)
    }))
  }
  return out
}

describe('readCanonicalEnvelope (the fast path of decodeEnvelope)', () => {
  it('reads every envelope sealCheckpoint makes, exactly as dag-cbor decodes it', () => {
    const all = [root, ...variety()]
    for (const checkpoint of all) {
      expect(expectFaithful(checkpoint.bytes)).toBe(true)
      expect(plain(decodeEnvelope(checkpoint.bytes).envelope, true)).toEqual(plain(checkpoint.envelope, true))
    }
  })

  it('accepts no single-byte change, deletion or insertion that dag-cbor would not decode to the same canonical bytes', () => {
    const samples = [root, ...variety().filter(c => c.bytes.length < 1200)]
    let accepted = 0
    let declined = 0
    for (const { bytes } of samples) {
      for (let pos = 0; pos < bytes.length; pos++) {
        const original = bytes[pos] as number
        const variants: Uint8Array[] = []
        for (const value of new Set([original ^ 0x01, original ^ 0x20, original ^ 0x80, (original + 1) & 0xff, (original - 1) & 0xff, 0x00, 0x17, 0x18, 0xf6, 0xf7, 0xff])) {
          const changed = Uint8Array.from(bytes)
          changed[pos] = value
          variants.push(changed)
        }
        variants.push(Buffer.concat([bytes.subarray(0, pos), bytes.subarray(pos + 1)]))
        variants.push(Buffer.concat([bytes.subarray(0, pos), Uint8Array.of(0x00), bytes.subarray(pos)]))
        for (const variant of variants) {
          if (expectFaithful(variant)) accepted++
          else declined++
        }
      }
    }
    // Changes inside text, nonce, sig or ciphertext stay canonical; structural ones do not.
    expect(accepted).toBeGreaterThan(1000)
    expect(declined).toBeGreaterThan(1000)
  })

  it('declines non-canonical forms of a valid envelope, which decodeEnvelope then refuses', () => {
    const { bytes } = post([root], { keyring, signer, meta: { size: 5, user: { a: '1', b: '2' } } })
    const at = (needle: number[]): number => Buffer.from(bytes).indexOf(Buffer.from(needle))
    const cases: Uint8Array[] = []
    // seq 2 as a one-byte argument (0x18 0x02) instead of inline.
    const seqAt = at([0x63, 0x73, 0x65, 0x71]) + 4
    cases.push(Buffer.concat([bytes.subarray(0, seqAt), Uint8Array.of(0x18, 0x02), bytes.subarray(seqAt + 1)]))
    // meta.user keys swapped: b before a.
    const userAt = at([0x61, 0x61, 0x61, 0x31])
    const swapped = Uint8Array.from(bytes)
    swapped.set([0x61, 0x62, 0x61, 0x32, 0x61, 0x61, 0x61, 0x31], userAt)
    cases.push(swapped)
    // An invalid UTF-8 byte in a user value.
    const invalid = Uint8Array.from(bytes)
    invalid[userAt + 3] = 0xff
    cases.push(invalid)
    // Trailing garbage.
    cases.push(Buffer.concat([bytes, Uint8Array.of(0)]))
    for (const bad of cases) {
      expect(readCanonicalEnvelope(bad)).toBeUndefined()
      expect(() => decodeEnvelope(bad)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_MALFORMED' }) as Error)
    }

    // A user key '__proto__' (after 'a' and 'b': longer) is canonical, but assigning it to an
    // object would drop it: the reader leaves it to dag-cbor, which keeps it as an own property.
    const withProto = Buffer.from(bytes)
    withProto[withProto.indexOf(Buffer.from([0x64, 0x75, 0x73, 0x65, 0x72, 0xa2])) + 5] = 0xa3
    const protoBytes = Buffer.concat([withProto.subarray(0, userAt + 8), Buffer.from([0x69, ...Buffer.from('__proto__'), 0x61, 0x78]), withProto.subarray(userAt + 8)])
    expect(readCanonicalEnvelope(protoBytes)).toBeUndefined()
    expect(reference(protoBytes)?.canonical).toBe(true)
    expect(Object.entries(decodeEnvelope(protoBytes).envelope.meta.user ?? {})).toEqual([['a', '1'], ['b', '2'], ['__proto__', 'x']])
  })
})
