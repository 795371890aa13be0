import { CID } from 'multiformats/cid'
import { SIG_BYTES } from './crypto.ts'

/**
 * Reads envelope bytes that are exactly in the canonical v1 form FORMAT.md lays out, and nothing
 * else: the 11 fields with their names, in dag-cbor's key order; every length and integer in its
 * shortest form; text that is valid UTF-8; meta with its known keys in order and `user` keys
 * strictly increasing; parents as CIDv1 dag-cbor sha2-256 links; not a byte left over.
 *
 * Every node decodes every checkpoint it receives, and the generic path (dag-cbor's decoder, then
 * an encoding of the header to prove the bytes canonical) costs a large share of a receipt. This
 * reader does both in one pass and yields the header (the AEAD's associated data) as a slice of
 * the bytes. It only ever accepts: anything it does not read returns undefined, and decodeEnvelope
 * falls back to dag-cbor, which decides and words the error. test/checkpoints/envelope-reader.test.ts
 * holds whatever it accepts equal to dag-cbor's decoding, and dag-cbor's encoding of that to
 * the very same bytes, over generated envelopes and every single-byte mutation of them.
 *
 * Byte strings (nonce, sig, ciphertext) are views of `bytes`, which must never be written to.
 */
export interface ReadEnvelope {
  /** The fields, as dag-cbor would decode them (shape only: decodeEnvelope checks the values). */
  value: Record<string, unknown>
  /** The dag-cbor encoding of every field but `sig` and `ciphertext`. */
  header: Uint8Array
}

const ascii = (text: string): Uint8Array => Uint8Array.from(text, c => c.charCodeAt(0))
/** A text key as dag-cbor encodes it (all shorter than 24 bytes: the length is in the head). */
const key = (name: string): Uint8Array => Uint8Array.of(0x60 | name.length, ...ascii(name))

const K_V = key('v')
const K_SEQ = key('seq')
const K_SIG = key('sig')
const K_META = key('meta')
const K_TIME = key('time')
const K_KEY_ID = key('keyId')
const K_NONCE = key('nonce')
const K_AUTHOR = key('author')
const K_STREAM = key('stream')
const K_PARENTS = key('parents')
const K_CIPHERTEXT = key('ciphertext')
/** meta's keys in dag-cbor order (by length, then bytewise), with how each value is read. */
const META_KEYS: ReadonlyArray<{ name: string, bytes: Uint8Array, kind: 'text' | 'uint' | 'user' }> = [
  { name: 'kind', bytes: key('kind'), kind: 'text' },
  { name: 'size', bytes: key('size'), kind: 'uint' },
  { name: 'user', bytes: key('user'), kind: 'user' },
  { name: 'label', bytes: key('label'), kind: 'text' },
  { name: 'contentType', bytes: key('contentType'), kind: 'text' }
]

const MAP_9 = 0xa9
const MAP_11 = 0xab
/** 'sig' key (4 bytes), bytes(64) head (2 bytes), the signature. */
const SIG_ENTRY_BYTES = K_SIG.length + 2 + SIG_BYTES
/** Tag 42 (a CID link), then bytes(37): the identity multibase prefix 0x00 and a 36-byte CID. */
const LINK_PREFIX = Uint8Array.of(0xd8, 0x2a, 0x58, 37, 0x00, 0x01, 0x71, 0x12, 0x20)
const LINK_BYTES = LINK_PREFIX.length + 32

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Thrown (and caught in readCanonicalEnvelope) for any byte this reader does not accept. */
const DECLINE = Symbol('decline')

class Cursor {
  readonly bytes: Uint8Array
  pos: number

  constructor (bytes: Uint8Array, pos: number) {
    this.bytes = bytes
    this.pos = pos
  }

  /** The argument of a head of `major` type, which must be in its shortest form and a safe integer. */
  head (major: number): number {
    const { bytes } = this
    const first = bytes[this.pos]
    if (first === undefined || first >> 5 !== major) throw DECLINE
    const info = first & 0x1f
    this.pos++
    if (info < 24) return info
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (size === 0 || this.pos + size > bytes.length) throw DECLINE
    let value = 0
    for (let i = 0; i < size; i++) value = value * 256 + (bytes[this.pos + i] as number)
    this.pos += size
    const least = info === 24 ? 24 : info === 25 ? 0x100 : info === 26 ? 0x10000 : 0x100000000
    if (value < least || !Number.isSafeInteger(value)) throw DECLINE
    return value
  }

  /** The next `length` bytes, as a view. */
  take (length: number): Uint8Array {
    if (this.pos + length > this.bytes.length) throw DECLINE
    const view = this.bytes.subarray(this.pos, this.pos + length)
    this.pos += length
    return view
  }

  expect (expected: Uint8Array): void {
    if (!startsWith(this, expected)) throw DECLINE
    this.pos += expected.length
  }

  uint (): number {
    return this.head(0)
  }

  byteString (): Uint8Array {
    return this.take(this.head(2))
  }

  /** A text string: its bytes (for ordering keys) and its value. */
  textBytes (): Uint8Array {
    return this.take(this.head(3))
  }

  text (): string {
    return decodeUtf8(this.textBytes())
  }

  link (): CID {
    this.expect(LINK_PREFIX)
    this.pos += 32
    if (this.pos > this.bytes.length) throw DECLINE
    return CID.decode(this.bytes.subarray(this.pos - 36, this.pos))
  }
}

function decodeUtf8 (bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw DECLINE
  }
}

/** dag-cbor's map key order: shorter first, then bytewise. */
function keyAfter (key: Uint8Array, previous: Uint8Array): boolean {
  if (key.length !== previous.length) return key.length > previous.length
  for (let i = 0; i < key.length; i++) {
    if (key[i] !== previous[i]) return (key[i] as number) > (previous[i] as number)
  }
  return false
}

function readMeta (cursor: Cursor): Record<string, unknown> {
  const count = cursor.head(5)
  const meta: Record<string, unknown> = {}
  let next = 0
  for (let i = 0; i < count; i++) {
    // Keys in order: each one is looked for only among those that may still follow.
    let field
    while (next < META_KEYS.length && field === undefined) {
      const candidate = META_KEYS[next++] as (typeof META_KEYS)[number]
      if (startsWith(cursor, candidate.bytes)) field = candidate
    }
    if (field === undefined) throw DECLINE
    cursor.pos += field.bytes.length
    if (field.kind === 'text') meta[field.name] = cursor.text()
    else if (field.kind === 'uint') meta[field.name] = cursor.uint()
    else meta[field.name] = readUserMeta(cursor)
  }
  return meta
}

function readUserMeta (cursor: Cursor): Record<string, string> {
  const count = cursor.head(5)
  const user: Record<string, string> = {}
  let previous: Uint8Array | undefined
  for (let i = 0; i < count; i++) {
    const keyBytes = cursor.textBytes()
    if (previous !== undefined && !keyAfter(keyBytes, previous)) throw DECLINE
    previous = keyBytes
    const name = decodeUtf8(keyBytes)
    // Assigning '__proto__' would be dropped, not stored: a value that no longer encodes to these bytes.
    if (name === '__proto__') throw DECLINE
    user[name] = cursor.text()
  }
  return user
}

function startsWith (cursor: Cursor, expected: Uint8Array): boolean {
  const { bytes, pos } = cursor
  if (pos + expected.length > bytes.length) return false
  for (let i = 0; i < expected.length; i++) if (bytes[pos + i] !== expected[i]) return false
  return true
}

/** See the module comment. */
export function readCanonicalEnvelope (bytes: Uint8Array): ReadEnvelope | undefined {
  if (bytes[0] !== MAP_11) return undefined
  const cursor = new Cursor(bytes, 1)
  try {
    cursor.expect(K_V)
    const v = cursor.uint()
    cursor.expect(K_SEQ)
    const seq = cursor.uint()
    const sigAt = cursor.pos
    cursor.expect(K_SIG)
    if (cursor.head(2) !== SIG_BYTES) throw DECLINE
    const sig = cursor.take(SIG_BYTES)
    cursor.expect(K_META)
    const meta = readMeta(cursor)
    cursor.expect(K_TIME)
    const time = cursor.uint()
    cursor.expect(K_KEY_ID)
    const keyId = cursor.text()
    cursor.expect(K_NONCE)
    const nonce = cursor.byteString()
    cursor.expect(K_AUTHOR)
    const author = cursor.text()
    cursor.expect(K_STREAM)
    const stream = cursor.text()
    cursor.expect(K_PARENTS)
    const parentCount = cursor.head(4)
    // Each link takes LINK_BYTES: a count the bytes cannot hold is refused before any allocation.
    if (cursor.pos + parentCount * LINK_BYTES > bytes.length) throw DECLINE
    const parents: CID[] = []
    for (let i = 0; i < parentCount; i++) parents.push(cursor.link())
    const ciphertextAt = cursor.pos
    cursor.expect(K_CIPHERTEXT)
    const ciphertext = cursor.byteString()
    if (cursor.pos !== bytes.length) throw DECLINE
    // The header is the envelope without its sig and ciphertext entries, under a map head of 9.
    const header = new Uint8Array(ciphertextAt - SIG_ENTRY_BYTES)
    header[0] = MAP_9
    header.set(bytes.subarray(1, sigAt), 1)
    header.set(bytes.subarray(sigAt + SIG_ENTRY_BYTES, ciphertextAt), sigAt)
    return { value: { v, seq, sig, meta, time, keyId, nonce, author, stream, parents, ciphertext }, header }
  } catch {
    // DECLINE, or anything else odd about these bytes: dag-cbor decides.
    return undefined
  }
}
