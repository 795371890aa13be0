/**
 * The checkpoint envelope (DESIGN §4), byte for byte as FORMAT.md describes it. Pure functions:
 * no storage, no network, no clock unless the caller leaves `time` out.
 */
import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { NONCE_BYTES, SIG_BYTES, TAG_BYTES, cidOf, signingMessage, verifyAuthorSignature, xchachaOpen, xchachaSealInto } from './crypto.ts'
import type { Signer } from './crypto.ts'
import { checkpointError } from './format-errors.ts'
import { readCanonicalEnvelope } from './envelope-reader.ts'
import { KEY_ID_PATTERN } from './keyring.ts'
import type { Keyring } from './keyring.ts'

export const FORMAT_VERSION = 1
/** Cap on the dag-cbor encoding of `meta`: 4 KiB. Metadata is announced in clear to every node. */
export const MAX_META_BYTES = 4096
/** Cap on `parents`: far above the number of nodes that can fork a stream at once. */
export const MAX_PARENTS = 1024
export const MAX_STREAM_LENGTH = 128
const MAX_AUTHOR_LENGTH = 128
const MAX_LABEL_LENGTH = 256
const MAX_KIND_LENGTH = 64
const MAX_CONTENT_TYPE_LENGTH = 255
const USER_META_KEY_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
const STREAM_PATTERN = /^[A-Za-z0-9._/-]{1,128}$/
const DAG_CBOR = 0x71
const SHA2_256 = 0x12

/** Clear-text metadata. Never put secrets here: every node and every log may show it. */
export interface CheckpointMeta {
  label?: string
  kind?: string
  /** Payload size in bytes, as the poster states it. */
  size?: number
  contentType?: string
  /** The poster's own `k=v` strings. */
  user?: Record<string, string>
}

/** Every field but `ciphertext` and `sig`; its dag-cbor encoding is the AEAD's associated data. */
export interface CheckpointHeader {
  v: typeof FORMAT_VERSION
  stream: string
  /** Sorted by CID bytes, no duplicates. */
  parents: CID[]
  seq: number
  author: string
  time: number
  meta: CheckpointMeta
  keyId: string
  nonce: Uint8Array
}

export interface Envelope extends CheckpointHeader {
  /** XChaCha20-Poly1305 output: encrypted payload || 16-byte tag. */
  ciphertext: Uint8Array
  sig: Uint8Array
}

export interface Checkpoint {
  id: CID
  envelope: Envelope
  /** The full encoding, `sig` included: what goes on the wire and into the store. */
  bytes: Uint8Array
}

/** A stream head as the store knows it. */
export interface Head {
  id: CID
  seq: number
}

const ENVELOPE_FIELDS = ['v', 'stream', 'parents', 'seq', 'author', 'time', 'meta', 'keyId', 'nonce', 'ciphertext', 'sig'] as const

/** Throws CHECKPOINT_BAD_STREAM (400) unless `name` is a valid stream name; returns it. */
export function validateStreamName (name: unknown): string {
  const problem = streamNameProblem(name)
  if (problem !== undefined) throw checkpointError('CHECKPOINT_BAD_STREAM', `invalid stream name: ${problem}`)
  return name as string
}

function streamNameProblem (name: unknown): string | undefined {
  if (typeof name !== 'string') return 'it must be a string'
  if (!STREAM_PATTERN.test(name)) return `it must be 1-${MAX_STREAM_LENGTH} characters of A-Z a-z 0-9 . _ / -`
  if (name.startsWith('/') || name.endsWith('/')) return 'it must not start or end with /'
  if (name.includes('//')) return 'it must not contain //'
  if (name.includes('..')) return 'it must not contain ..'
  return undefined
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && CID.asCID(value) === null
}

function isSafeCount (value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min
}

function boundedString (value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length <= max
}

function metaProblem (meta: unknown): string | undefined {
  if (!isPlainObject(meta)) return 'meta must be a map'
  for (const [key, value] of Object.entries(meta)) {
    // An optional field set to undefined is absent (decoded envelopes never hold undefined).
    if (value === undefined) continue
    switch (key) {
      case 'label':
        if (!boundedString(value, MAX_LABEL_LENGTH)) return `meta.label must be a string of at most ${MAX_LABEL_LENGTH} characters`
        break
      case 'kind':
        if (!boundedString(value, MAX_KIND_LENGTH)) return `meta.kind must be a string of at most ${MAX_KIND_LENGTH} characters`
        break
      case 'contentType':
        if (!boundedString(value, MAX_CONTENT_TYPE_LENGTH)) return `meta.contentType must be a string of at most ${MAX_CONTENT_TYPE_LENGTH} characters`
        break
      case 'size':
        if (!isSafeCount(value, 0)) return 'meta.size must be a non-negative integer'
        break
      case 'user':
        if (!isPlainObject(value)) return 'meta.user must be a map of strings'
        for (const [userKey, userValue] of Object.entries(value)) {
          if (!USER_META_KEY_PATTERN.test(userKey)) return `meta.user key ${JSON.stringify(userKey.slice(0, 80))} must be 1-64 characters of A-Z a-z 0-9 . _ -`
          if (typeof userValue !== 'string') return `meta.user.${userKey} must be a string`
        }
        break
      default:
        return `meta.${key} is not a known field (label, kind, size, contentType, user)`
    }
  }
  return undefined
}

/** Copies the defined fields only: dag-cbor cannot encode `undefined`. */
function normalizeMeta (meta: CheckpointMeta): CheckpointMeta {
  const problem = metaProblem(meta)
  if (problem !== undefined) throw checkpointError('CHECKPOINT_BAD_META', problem)
  const out: CheckpointMeta = {}
  if (meta.label !== undefined) out.label = meta.label
  if (meta.kind !== undefined) out.kind = meta.kind
  if (meta.size !== undefined) out.size = meta.size
  if (meta.contentType !== undefined) out.contentType = meta.contentType
  if (meta.user !== undefined && Object.keys(meta.user).length > 0) out.user = { ...meta.user }
  const size = dagCbor.encode(out).length
  if (size > MAX_META_BYTES) throw checkpointError('CHECKPOINT_BAD_META', `meta encodes to ${size} bytes; the limit is ${MAX_META_BYTES}`)
  return out
}

/** Orders byte strings lexicographically, a proper prefix first. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.length - b.length
}

function isEnvelopeCid (cid: CID): boolean {
  return cid.version === 1 && cid.code === DAG_CBOR && cid.multihash.code === SHA2_256 && cid.multihash.size === 32
}

/** 1 + the greatest parent seq; 1 for a first checkpoint. */
export function nextSeq (parents: readonly Head[]): number {
  let max = 0
  for (const parent of parents) {
    if (!isSafeCount(parent.seq, 1)) throw checkpointError('CHECKPOINT_BAD_SEQ', `parent ${String(parent.id)} has an invalid seq`)
    if (parent.seq > max) max = parent.seq
  }
  return max + 1
}

function normalizeParents (parents: readonly Head[]): CID[] {
  if (parents.length > MAX_PARENTS) throw checkpointError('CHECKPOINT_MALFORMED', `at most ${MAX_PARENTS} parents`)
  const byKey = new Map<string, Head>()
  for (const parent of parents) {
    const id = CID.asCID(parent.id)
    if (id === null || !isEnvelopeCid(id)) throw checkpointError('CHECKPOINT_MALFORMED', 'parents must be CIDv1 dag-cbor sha2-256 checkpoint ids')
    const key = Buffer.from(id.bytes.buffer, id.bytes.byteOffset, id.bytes.byteLength).toString('latin1')
    const seen = byKey.get(key)
    if (seen !== undefined && seen.seq !== parent.seq) throw checkpointError('CHECKPOINT_BAD_SEQ', `parent ${String(id)} is given twice with different seqs`)
    byKey.set(key, { id, seq: parent.seq })
  }
  return [...byKey.values()].map((p) => p.id).sort((a, b) => compareBytes(a.bytes, b.bytes))
}

function headerOf (e: CheckpointHeader): CheckpointHeader {
  return { v: e.v, stream: e.stream, parents: e.parents, seq: e.seq, author: e.author, time: e.time, meta: e.meta, keyId: e.keyId, nonce: e.nonce }
}

/** The AEAD associated data: the dag-cbor encoding of every field but `ciphertext` and `sig`. */
export function encodeHeader (envelope: CheckpointHeader): Uint8Array {
  return dagCbor.encode(headerOf(envelope))
}


export interface SealInit {
  stream: string
  /** The stream heads this node knows; empty for the first checkpoint of a stream. */
  parents: readonly Head[]
  payload: Uint8Array
  meta?: CheckpointMeta
  /** ms since the epoch. @default Date.now() */
  time?: number
  /** Fixtures only: a fixed nonce. Reusing one with the same key breaks confidentiality. @default 24 random bytes */
  nonce?: Uint8Array
  keyring: Keyring
  signer: Signer
  /** Where the envelope is laid out: a new Uint8Array of `size` bytes by default. */
  allocate?: (size: number) => Uint8Array
  /**
   * Called once the ciphertext is in place, before the id is hashed and the signature written:
   * from then on only the signature's slot, within the first 100 bytes, still changes.
   */
  onEncrypted?: (bytes: Uint8Array) => void
}

/** Encrypts, encodes and signs one checkpoint with the keyring's newest key. */
export function sealCheckpoint (init: SealInit): Checkpoint {
  const stream = validateStreamName(init.stream)
  if (!(init.payload instanceof Uint8Array)) throw checkpointError('CHECKPOINT_MALFORMED', 'payload must be bytes')
  const time = init.time ?? Date.now()
  if (!isSafeCount(time, 0)) throw checkpointError('CHECKPOINT_MALFORMED', 'time must be a non-negative integer (ms)')
  const nonce = init.nonce ?? new Uint8Array(randomBytes(NONCE_BYTES))
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) throw checkpointError('CHECKPOINT_MALFORMED', `nonce must be ${NONCE_BYTES} bytes`)
  const keyId = init.keyring.sealKeyId
  const header: CheckpointHeader = {
    v: FORMAT_VERSION,
    stream,
    parents: normalizeParents(init.parents),
    seq: nextSeq(init.parents),
    author: init.signer.peerId,
    time,
    meta: normalizeMeta(init.meta ?? {}),
    keyId,
    nonce
  }
  const aad = encodeHeader(header)
  // The envelope is laid out once and filled in place: the payload is encrypted straight into
  // it and the signature written into its slot, so a 64 MiB payload is never copied.
  const ctHead = cborHead(2, init.payload.length + TAG_BYTES)
  const at = afterSeq(header.seq)
  const ctAt = aad.length + SIG_ENTRY_BYTES + CIPHERTEXT_KEY.length + ctHead.length
  const size = ctAt + init.payload.length + TAG_BYTES
  const bytes = init.allocate?.(size) ?? new Uint8Array(size)
  bytes.set(aad.subarray(0, at))
  bytes.set(SIG_ENTRY_PREFIX, at)
  bytes.set(aad.subarray(at), at + SIG_ENTRY_BYTES)
  bytes.set(CIPHERTEXT_KEY, aad.length + SIG_ENTRY_BYTES)
  bytes.set(ctHead, aad.length + SIG_ENTRY_BYTES + CIPHERTEXT_KEY.length)
  bytes[0] = MAP_11
  const ciphertext = bytes.subarray(ctAt)
  xchachaSealInto(ciphertext, init.keyring.streamKey(keyId, stream), nonce, init.payload, aad)
  init.onEncrypted?.(bytes)
  const id = idOf(bytes, header.seq)
  const sig = bytes.subarray(at + SIG_ENTRY_PREFIX.length, at + SIG_ENTRY_BYTES)
  sig.set(init.signer.sign(signingMessage(id)))
  const envelope = freeze({ ...header, ciphertext, sig }, aad)
  return { id, envelope, bytes }
}

function malformed (message: string, cause?: unknown): never {
  throw checkpointError('CHECKPOINT_MALFORMED', `malformed checkpoint: ${message}`, cause)
}

function envelopeProblem (value: Record<string, unknown>): string | undefined {
  // Version first: a newer envelope should say so, not that its fields look wrong.
  if (value.v !== FORMAT_VERSION) return `unsupported format version ${String(value.v)} (this node reads v${FORMAT_VERSION})`
  const keys = Object.keys(value)
  if (keys.length !== ENVELOPE_FIELDS.length || !ENVELOPE_FIELDS.every((f) => Object.hasOwn(value, f))) {
    return `fields must be exactly ${ENVELOPE_FIELDS.join(', ')}`
  }
  const streamProblem = streamNameProblem(value.stream)
  if (streamProblem !== undefined) return `stream: ${streamProblem}`
  const parents = value.parents
  if (!Array.isArray(parents) || parents.length > MAX_PARENTS) return `parents must be a list of at most ${MAX_PARENTS} ids`
  let previous: CID | undefined
  for (const item of parents) {
    const id = CID.asCID(item)
    if (id === null || !isEnvelopeCid(id)) return 'parents must be CIDv1 dag-cbor sha2-256 links'
    if (previous !== undefined && compareBytes(previous.bytes, id.bytes) >= 0) return 'parents must be sorted by bytes without duplicates'
    previous = id
  }
  if (!isSafeCount(value.seq, 1)) return 'seq must be a positive integer'
  if ((parents.length === 0) !== (value.seq === 1)) return 'seq must be 1 exactly when there are no parents'
  if (typeof value.author !== 'string' || value.author.length === 0 || value.author.length > MAX_AUTHOR_LENGTH) return 'author must be a peer ID string'
  if (!isSafeCount(value.time, 0)) return 'time must be a non-negative integer'
  const meta = metaProblem(value.meta)
  if (meta !== undefined) return meta
  if (typeof value.keyId !== 'string' || !KEY_ID_PATTERN.test(value.keyId)) return 'keyId must be 1-64 characters of A-Z a-z 0-9 . _ -'
  if (!(value.nonce instanceof Uint8Array) || value.nonce.length !== NONCE_BYTES) return `nonce must be ${NONCE_BYTES} bytes`
  if (!(value.ciphertext instanceof Uint8Array) || value.ciphertext.length < TAG_BYTES) return `ciphertext must be at least ${TAG_BYTES} bytes`
  if (!(value.sig instanceof Uint8Array) || value.sig.length !== SIG_BYTES) return `sig must be ${SIG_BYTES} bytes`
  return undefined
}

function equalAt (a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[aStart + i] !== b[bStart + i]) return false
  return true
}

/*
 * Byte layout of a canonical v1 envelope. dag-cbor sorts map keys by length, then bytewise:
 *   v, seq, sig, meta, time, keyId, nonce, author, stream, parents, ciphertext
 * so with H the encoded header (a map of 9: every field but sig and ciphertext; the AEAD's AAD)
 * and `at` the offset just past the 'seq' entry:
 *   envelope = ab ‖ H[1..at] ‖ sig entry (70 bytes) ‖ H[at..] ‖ ciphertext entry
 *   unsigned = aa ‖ H[1..]   ‖ ciphertext entry                  (the bytes the id hashes)
 * Sealing assembles both from H without encoding the ciphertext twice; decoding compares the
 * bytes with this layout, which proves them canonical with one encoding of the small header
 * instead of the whole envelope. The tests hold all of it equal to a plain dag-cbor encoding.
 */
const MAP_9 = 0xa9
const MAP_10 = 0xaa
const MAP_11 = 0xab
const MAP_10_HEAD = Uint8Array.of(MAP_10)
const SIG_ENTRY_PREFIX = Uint8Array.from([0x63, 0x73, 0x69, 0x67, 0x58, SIG_BYTES]) // text(3) 'sig', bytes(64)
const SIG_ENTRY_BYTES = SIG_ENTRY_PREFIX.length + SIG_BYTES
const CIPHERTEXT_KEY = Uint8Array.from([0x6a, ...new TextEncoder().encode('ciphertext')]) // text(10)

/** A CBOR head (major type + shortest argument) for `major` 0 (uint) or 2 (bytes). */
function cborHead (major: number, value: number): Uint8Array {
  const type = major << 5
  if (value < 24) return Uint8Array.of(type | value)
  if (value < 0x100) return Uint8Array.of(type | 24, value)
  if (value < 0x10000) return Uint8Array.of(type | 25, value >>> 8, value & 0xff)
  if (value < 0x100000000) return Uint8Array.of(type | 26, value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
  const out = new Uint8Array(9)
  out[0] = type | 27
  new DataView(out.buffer).setBigUint64(1, BigInt(value))
  return out
}

/** Offset just past the 'seq' entry: map head, 'v' 1, 'seq' <uint>. */
function afterSeq (seq: number): number {
  return 1 + 3 + 4 + cborHead(0, seq).length
}

function isCanonical (bytes: Uint8Array, header: Uint8Array, envelope: Envelope): boolean {
  const at = afterSeq(envelope.seq)
  const ctHead = cborHead(2, envelope.ciphertext.length)
  const ctAt = header.length + SIG_ENTRY_BYTES
  return bytes.length === ctAt + CIPHERTEXT_KEY.length + ctHead.length + envelope.ciphertext.length &&
    header[0] === MAP_9 && bytes[0] === MAP_11 &&
    equalAt(bytes, 1, header, 1, at - 1) &&
    equalAt(bytes, at, SIG_ENTRY_PREFIX, 0, SIG_ENTRY_PREFIX.length) &&
    equalAt(bytes, at + SIG_ENTRY_BYTES, header, at, header.length - at) &&
    equalAt(bytes, ctAt, CIPHERTEXT_KEY, 0, CIPHERTEXT_KEY.length) &&
    equalAt(bytes, ctAt + CIPHERTEXT_KEY.length, ctHead, 0, ctHead.length)
}

/** Envelope bytes and the id this process hashed from exactly them (see EnvelopeAssembler). */
export interface HashedBytes {
  bytes: Uint8Array
  id: CID
}

/**
 * Where the id's hash input lies in envelope bytes, read from their first 9: `prefix`, then
 * bytes [1, sigStart) and [sigEnd, end), as idOf hashes them. For hashing bytes while they
 * arrive; only canonical bytes decode, and for those this is exactly idOf's layout.
 */
export function idLayout (head: Uint8Array): { prefix: Uint8Array, sigStart: number, sigEnd: number } | undefined {
  if (head.length < 9 || head[0] !== MAP_11) return undefined
  // 'seq' is the first value of variable length: its head's additional info gives its size.
  const info = (head[8] as number) & 0x1f
  const sigStart = 8 + (info < 24 ? 1 : info === 24 ? 2 : info === 25 ? 3 : info === 26 ? 5 : 9)
  return { prefix: MAP_10_HEAD, sigStart, sigEnd: sigStart + SIG_ENTRY_BYTES }
}

/** The id of canonical envelope bytes: the hash of their unsigned form, without copying them. */
function idOf (bytes: Uint8Array, seq: number): CID {
  const at = afterSeq(seq)
  return cidOf(MAP_10_HEAD, bytes.subarray(1, at), bytes.subarray(at + SIG_ENTRY_BYTES))
}

/**
 * Encoded headers of the envelopes this module sealed or decoded, so computeId and
 * openCheckpoint do not encode them again. Safe because those envelopes are frozen, so the
 * header cannot drift from them (byte arrays cannot be frozen: never write into an envelope's).
 */
const encodedHeaders = new WeakMap<Envelope, Uint8Array>()

/** The content id: CIDv1 (dag-cbor, sha2-256) of the encoding of every field but `sig`. */
export function computeId (envelope: Envelope): CID {
  const header = encodedHeaders.get(envelope) ?? encodeHeader(envelope)
  return cidOf(MAP_10_HEAD, header.subarray(1), CIPHERTEXT_KEY, cborHead(2, envelope.ciphertext.length), envelope.ciphertext)
}

function freeze (envelope: Envelope, header: Uint8Array): Envelope {
  Object.freeze(envelope.parents)
  if (envelope.meta.user !== undefined) Object.freeze(envelope.meta.user)
  Object.freeze(envelope.meta)
  encodedHeaders.set(Object.freeze(envelope), header)
  return envelope
}

/**
 * Parses envelope bytes strictly and computes their id. The id always comes from the bytes,
 * never from what a sender claims: `hashed` is for a caller that hashed these very bytes itself
 * (per idLayout) while they arrived, and must name the same bytes object. Throws CHECKPOINT_MALFORMED. Checks shape only: call
 * verifyEnvelope, checkSeq and openCheckpoint for the rest. The envelope returned is frozen.
 */
export function decodeEnvelope (bytes: Uint8Array, hashed?: HashedBytes): Checkpoint {
  if (hashed !== undefined && hashed.bytes !== bytes) throw new TypeError('decodeEnvelope: the id given was hashed from other bytes')
  if (!(bytes instanceof Uint8Array)) malformed('expected bytes')
  // Canonical bytes, which is what every node sends, are read in one pass; anything else goes
  // through dag-cbor, which accepts it only if it is canonical after all (see envelope-reader.ts).
  const read = readCanonicalEnvelope(bytes)
  const value = read?.value ?? decodeGeneric(bytes)
  const problem = envelopeProblem(value)
  if (problem !== undefined) malformed(problem)
  const envelope = value as unknown as Envelope
  const header = read?.header ?? encodeHeader(envelope)
  // One envelope, one byte string: otherwise the stored bytes and the bytes the id hashes
  // could differ, and IPLD tools walking the DAG would see other blocks than ours.
  if (read === undefined && !isCanonical(bytes, header, envelope)) malformed('not in canonical dag-cbor form')
  // meta's encoding is a part of the header's (after a map head and the key): only a large
  // header needs meta encoded on its own to be measured.
  if (header.length - 6 > MAX_META_BYTES && dagCbor.encode(envelope.meta).length > MAX_META_BYTES) {
    malformed(`meta must encode to at most ${MAX_META_BYTES} bytes`)
  }
  return { id: hashed?.id ?? idOf(bytes, envelope.seq), envelope: freeze(envelope, header), bytes }
}

function decodeGeneric (bytes: Uint8Array): Record<string, unknown> {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    malformed('not valid dag-cbor', err)
  }
  if (!isPlainObject(value)) malformed('not a map')
  return value
}

export interface VerifyOptions {
  /** Mesh membership of an author (allowlist); every author passes when absent. */
  isMember?: (peerId: string) => boolean
}

/**
 * Checks that `id` is the envelope's content id, that the author is a member, and the author's
 * signature. Throws CHECKPOINT_ID_MISMATCH, CHECKPOINT_NOT_MEMBER or CHECKPOINT_BAD_SIGNATURE.
 */
export function verifyEnvelope (envelope: Envelope, id: CID, opts: VerifyOptions = {}): void {
  const actual = computeId(envelope)
  if (!actual.equals(id)) throw checkpointError('CHECKPOINT_ID_MISMATCH', `checkpoint id ${String(id)} does not match its content (${String(actual)})`)
  if (opts.isMember !== undefined && !opts.isMember(envelope.author)) {
    throw checkpointError('CHECKPOINT_NOT_MEMBER', `author ${envelope.author} is not a member of the mesh`)
  }
  verifyAuthorSignature(envelope.author, id, envelope.sig)
}

/**
 * Decrypts the payload and authenticates it together with the header. Throws
 * CHECKPOINT_UNKNOWN_KEY or CHECKPOINT_DECRYPT_FAILED. `into`: see xchachaOpen.
 */
export function openCheckpoint (envelope: Envelope, keyring: Keyring, into?: Uint8Array): Uint8Array {
  const key = keyring.streamKey(envelope.keyId, envelope.stream)
  return xchachaOpen(key, envelope.nonce, envelope.ciphertext, encodedHeaders.get(envelope) ?? encodeHeader(envelope), into)
}

/**
 * Checks `seq` against the parents' seqs. `parentSeq` returns the seq of a stored (already
 * verified) checkpoint, or undefined when it is unknown. Throws CHECKPOINT_MISSING_PARENT or
 * CHECKPOINT_BAD_SEQ.
 */
export function checkSeq (envelope: Envelope, parentSeq: (id: CID) => number | undefined): void {
  let max = 0
  for (const parent of envelope.parents) {
    const seq = parentSeq(parent)
    if (seq === undefined) throw checkpointError('CHECKPOINT_MISSING_PARENT', `parent ${String(parent)} is not known: fetch it first`)
    if (seq > max) max = seq
  }
  if (envelope.seq !== max + 1) throw checkpointError('CHECKPOINT_BAD_SEQ', `seq is ${envelope.seq}, expected ${max + 1}`)
}

/** Orders heads by (seq, id bytes): the greater is the later. */
export function compareHeads (a: Head, b: Head): number {
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1
  return compareBytes(a.id.bytes, b.id.bytes)
}

/** The latest of a stream's heads: the same on every node that holds the same set. */
export function pickLatest<T extends Head> (heads: Iterable<T>): T | undefined {
  let latest: T | undefined
  for (const head of heads) {
    if (latest === undefined || compareHeads(head, latest) > 0) latest = head
  }
  return latest
}
