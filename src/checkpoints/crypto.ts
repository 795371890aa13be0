/**
 * The checkpoint format's primitives. Each one is the algorithm DESIGN §4 names, computed with
 * whichever implementation is fastest here: node:crypto (OpenSSL, with the CPU's SHA
 * instructions) for SHA-256; libsodium for Ed25519 (ed25519.ts) and XChaCha20-Poly1305, both
 * ~10x faster than pure JS; @noble for HKDF (cached, so its cost does not matter).
 * test/checkpoints/crypto.test.ts proves byte-equality with the @noble reference implementations.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import sodium from 'sodium-native'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { checkpointError } from './format-errors.ts'
import { ed25519Sign, ed25519Verify } from './ed25519.ts'

const DAG_CBOR = 0x71
const SHA2_256 = 0x12

export const KEY_BYTES = 32
export const NONCE_BYTES = 24
export const TAG_BYTES = 16
export const SIG_BYTES = 64

/** HKDF salt: namespaces the stream keys so the master key can never collide with another use. */
export const STREAM_KEY_SALT = utf8('idlemesh/checkpoint/v1/stream-key')

/** Prefix of every signed byte string, so a checkpoint signature can never be replayed as anything else. */
export const SIGNATURE_DOMAIN = utf8('idlemesh/checkpoint/v1\0')

export function utf8 (text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

function toBytes (buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
}

export function sha256 (bytes: Uint8Array): Uint8Array {
  return toBytes(createHash('sha256').update(bytes).digest())
}

/** SHA-256 of each `chunkBytes` slice of `bytes` (the last may be shorter), from slice `first` on. */
export function chunkDigests (bytes: Uint8Array, chunkBytes: number, first = 0): Uint8Array[] {
  const digests: Uint8Array[] = []
  for (let offset = first * chunkBytes; offset < bytes.length; offset += chunkBytes) digests.push(sha256(bytes.subarray(offset, offset + chunkBytes)))
  return digests
}

/** CIDv1, dag-cbor codec, sha2-256 multihash, of the concatenation of `parts` (spares a copy). */
export function cidOf (...parts: Uint8Array[]): CID {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return cidOfDigest(toBytes(hash.digest()))
}

/** CIDv1, dag-cbor codec, of a SHA-256 digest computed elsewhere. */
export function cidOfDigest (sha256Digest: Uint8Array): CID {
  return CID.createV1(DAG_CBOR, Digest.create(SHA2_256, sha256Digest))
}

/** key = HKDF-SHA256(ikm = master key, salt = STREAM_KEY_SALT, info = utf8(stream), L = 32). */
export function deriveStreamKey (masterKey: Uint8Array, stream: string): Uint8Array {
  return hkdf(nobleSha256, masterKey, STREAM_KEY_SALT, utf8(stream), KEY_BYTES)
}

// 'expand 32-byte k' as little-endian words, the way noble's hchacha expects them on any host.
/**
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) as libsodium implements it, in one native call:
 * ~1 µs for a 1 KiB payload against ~18 µs for node:crypto's ChaCha20-Poly1305 (whose key
 * checks and cipher object dominate small messages), and 46 ms against 85–114 ms for 64 MiB.
 * Returns ciphertext || 16-byte tag, the layout of @noble/ciphers and libsodium.
 */
export function xchachaSeal (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG_BYTES)
  xchachaSealInto(out, key, nonce, plaintext, aad)
  return out
}

/** xchachaSeal into `out` (exactly plaintext length + 16 bytes), e.g. a view of a larger buffer. */
export function xchachaSealInto (out: Uint8Array, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): void {
  checkKeyAndNonce(key, nonce)
  if (out.length !== plaintext.length + TAG_BYTES) throw new RangeError('XChaCha20-Poly1305 output must be the plaintext length + 16 bytes')
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, key)
}

/**
 * Throws CHECKPOINT_DECRYPT_FAILED unless the tag authenticates key, nonce, aad and ciphertext.
 * The plaintext goes into `into` when given (at least ciphertext length − 16 bytes; the result is
 * a view of it), else into a new array.
 */
export function xchachaOpen (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array, into?: Uint8Array): Uint8Array {
  checkKeyAndNonce(key, nonce)
  if (sealed.length < TAG_BYTES) throw checkpointError('CHECKPOINT_DECRYPT_FAILED', 'ciphertext is shorter than its tag')
  const length = sealed.length - TAG_BYTES
  if (into !== undefined && into.length < length) throw new RangeError('XChaCha20-Poly1305 output buffer is too small')
  const plaintext = into === undefined ? new Uint8Array(length) : into.subarray(0, length)
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(plaintext, null, sealed, aad, nonce, key)
  } catch (err) {
    throw checkpointError('CHECKPOINT_DECRYPT_FAILED', 'payload does not authenticate under the claimed key and header', err)
  }
  return plaintext
}

function checkKeyAndNonce (key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`XChaCha20-Poly1305 needs a ${KEY_BYTES}-byte key`)
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`XChaCha20-Poly1305 needs a ${NONCE_BYTES}-byte nonce`)
}

/** The signed byte string: utf8('idlemesh/checkpoint/v1\0') || cid.bytes. */
export function signingMessage (id: CID): Uint8Array {
  const msg = new Uint8Array(SIGNATURE_DOMAIN.length + id.bytes.length)
  msg.set(SIGNATURE_DOMAIN)
  msg.set(id.bytes, SIGNATURE_DOMAIN.length)
  return msg
}

// DER prefixes that wrap a raw Ed25519 key as PKCS#8 / SPKI (RFC 8410), so OpenSSL imports it.
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

function withPrefix (prefix: Uint8Array, raw: Uint8Array): Buffer {
  const der = Buffer.alloc(prefix.length + raw.length)
  der.set(prefix)
  der.set(raw, prefix.length)
  return der
}

export interface Signer {
  /** Peer ID string of the node key: the `author` of what it seals. */
  readonly peerId: string
  readonly publicKey: Uint8Array
  sign: (message: Uint8Array) => Uint8Array
}

/**
 * `privateKeyRaw` is libp2p's Ed25519 `PrivateKey.raw`: 32-byte seed || 32-byte public key.
 * OpenSSL checks once that the halves belong together; signing then goes through libsodium
 * (ed25519.ts), which takes the key in this very layout.
 */
export function createSigner (privateKeyRaw: Uint8Array): Signer {
  if (!(privateKeyRaw instanceof Uint8Array) || privateKeyRaw.length !== 64) {
    throw checkpointError('CHECKPOINT_BAD_SIGNER_KEY', 'node key must be a 64-byte libp2p Ed25519 private key (seed || public key)')
  }
  const publicKey = privateKeyRaw.slice(32)
  let key: KeyObject
  try {
    key = createPrivateKey({ key: withPrefix(PKCS8_ED25519_PREFIX, privateKeyRaw.subarray(0, 32)), format: 'der', type: 'pkcs8' })
  } catch (err) {
    throw checkpointError('CHECKPOINT_BAD_SIGNER_KEY', 'node key is not a valid Ed25519 key', err)
  }
  const derived = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length)
  // A mismatched half would make every checkpoint carry an author whose key did not sign it.
  if (!derived.equals(publicKey)) {
    throw checkpointError('CHECKPOINT_BAD_SIGNER_KEY', 'node key is corrupt: its public half does not match its seed')
  }
  const peerId = peerIdFromPublicKey(publicKeyFromRaw(publicKey)).toString()
  const secretKey = privateKeyRaw.slice()
  return {
    peerId,
    publicKey,
    sign: (message) => ed25519Sign(secretKey, message)
  }
}

// Resolved author keys. Authors are mesh members, so this stays small; the cap only bounds
// what a flood of forged authors could cost.
const AUTHOR_KEY_CACHE_MAX = 4096
const authorKeys = new Map<string, Uint8Array>()

/** The author's raw Ed25519 public key; throws CHECKPOINT_BAD_SIGNATURE when `author` is not an Ed25519 peer ID. */
export function authorKey (author: string): Uint8Array {
  let key = authorKeys.get(author)
  if (key !== undefined) return key
  let raw: Uint8Array | undefined
  try {
    const peerId = peerIdFromString(author)
    if (peerId.type === 'Ed25519') raw = peerId.publicKey.raw
  } catch (err) {
    throw checkpointError('CHECKPOINT_BAD_SIGNATURE', `author ${JSON.stringify(author.slice(0, 80))} is not a peer ID`, err)
  }
  if (raw === undefined) throw checkpointError('CHECKPOINT_BAD_SIGNATURE', `author ${author} is not an Ed25519 peer ID`)
  key = raw
  if (authorKeys.size >= AUTHOR_KEY_CACHE_MAX) {
    const oldest = authorKeys.keys().next().value
    if (oldest !== undefined) authorKeys.delete(oldest)
  }
  authorKeys.set(author, key)
  return key
}

/** Throws CHECKPOINT_BAD_SIGNATURE unless `sig` is `author`'s signature over the content id. */
export function verifyAuthorSignature (author: string, id: CID, sig: Uint8Array): void {
  const key = authorKey(author)
  if (sig.length !== SIG_BYTES || !ed25519Verify(key, signingMessage(id), sig)) {
    throw checkpointError('CHECKPOINT_BAD_SIGNATURE', `signature is not valid for author ${author}`)
  }
}
