import { describe, it, expect } from 'vitest'
import { hkdfSync, randomBytes } from 'node:crypto'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 as multiformatsSha256 } from 'multiformats/hashes/sha2'
import {
  SIGNATURE_DOMAIN, STREAM_KEY_SALT, cidOf, createSigner, deriveStreamKey, sha256, signingMessage,
  verifyAuthorSignature, xchachaOpen, xchachaSeal
} from '../../src/checkpoints/crypto.ts'
import { libp2pRawKey } from './make-fixtures.ts'

const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s/g, ''), 'hex'))
const SIZES = [0, 1, 15, 16, 17, 63, 64, 65, 1024, 4096 + 7, (1 << 20) + 3]

describe('XChaCha20-Poly1305 (libsodium crypto_aead_xchacha20poly1305_ietf)', () => {
  it('matches draft-irtf-cfrg-xchacha-03 A.3.1', () => {
    const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f')
    const nonce = fromHex('404142434445464748494a4b4c4d4e4f5051525354555657')
    const aad = fromHex('50515253c0c1c2c3c4c5c6c7')
    const plaintext = new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
    const expected = fromHex(`bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
      731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
      2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
      21f9664c97637da9768812f615c68b13b52e c0875924c1c7987947deafd8780acf49`)
    expect(xchachaSeal(key, nonce, plaintext, aad)).toEqual(expected)
    expect(xchachaOpen(key, nonce, expected, aad)).toEqual(plaintext)
  })

  it('is byte-equal to @noble/ciphers xchacha20poly1305 on empty to 1 MiB payloads', () => {
    for (const size of SIZES) {
      for (const aadSize of [0, 13, 300]) {
        const key = bytes(32)
        const nonce = bytes(24)
        const aad = bytes(aadSize)
        const plaintext = bytes(size)
        const ours = xchachaSeal(key, nonce, plaintext, aad)
        const reference = xchacha20poly1305(key, nonce, aad).encrypt(plaintext)
        expect(ours.length).toBe(size + 16)
        expect(Buffer.from(ours).equals(reference)).toBe(true)
        expect(Buffer.from(xchachaOpen(key, nonce, reference, aad)).equals(plaintext)).toBe(true)
      }
    }
  })

  it('accepts keys and nonces at unaligned offsets', () => {
    const pool = bytes(100)
    const key = pool.subarray(1, 33)
    const nonce = pool.subarray(35, 59)
    const plaintext = bytes(50)
    expect(xchachaSeal(key, nonce, plaintext, new Uint8Array(0))).toEqual(xchacha20poly1305(key.slice(), nonce.slice()).encrypt(plaintext))
  })

  it('rejects a wrong key, nonce, aad, or any changed byte', () => {
    const key = bytes(32)
    const nonce = bytes(24)
    const aad = bytes(20)
    const sealed = xchachaSeal(key, nonce, bytes(100), aad)
    const fails = (k: Uint8Array, n: Uint8Array, c: Uint8Array, a: Uint8Array): void => {
      expect(() => xchachaOpen(k, n, c, a)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_DECRYPT_FAILED' }))
    }
    fails(bytes(32), nonce, sealed, aad)
    fails(key, bytes(24), sealed, aad)
    fails(key, nonce, sealed, bytes(20))
    fails(key, nonce, sealed.subarray(0, 15), aad)
    for (const at of [0, 50, 99, 100, 115]) {
      const tampered = sealed.slice()
      tampered[at] = (tampered[at] as number) ^ 1
      fails(key, nonce, tampered, aad)
    }
  })
})

describe('SHA-256 and content ids (node:crypto)', () => {
  it('match @noble/hashes sha256 and multiformats', async () => {
    for (const size of SIZES) {
      const data = bytes(size)
      expect(sha256(data)).toEqual(nobleSha256(data))
      const reference = CID.createV1(0x71, await multiformatsSha256.digest(data))
      const ours = cidOf(data)
      expect(ours.equals(reference)).toBe(true)
      expect(ours.toString()).toBe(reference.toString())
    }
  })
})

describe('stream key derivation', () => {
  it('is HKDF-SHA256(master, salt = "idlemesh/checkpoint/v1/stream-key", info = stream), as node:crypto computes it', () => {
    expect(new TextDecoder().decode(STREAM_KEY_SALT)).toBe('idlemesh/checkpoint/v1/stream-key')
    for (const stream of ['default', 'owner/repo', 'a'.repeat(128)]) {
      const master = bytes(32)
      const ours = deriveStreamKey(master, stream)
      expect(ours).toEqual(new Uint8Array(hkdfSync('sha256', master, STREAM_KEY_SALT, new TextEncoder().encode(stream), 32)))
      expect(ours).toEqual(hkdf(nobleSha256, master, STREAM_KEY_SALT, new TextEncoder().encode(stream), 32))
    }
  })

  it('gives every stream its own key', () => {
    const master = bytes(32)
    expect(deriveStreamKey(master, 'a')).not.toEqual(deriveStreamKey(master, 'b'))
  })
})

describe('Ed25519 (node:crypto)', () => {
  it('signs byte-equal to @noble/curves and verifies its signatures', () => {
    for (let i = 0; i < 5; i++) {
      const seed = bytes(32)
      const signer = createSigner(libp2pRawKey(seed))
      expect(signer.publicKey).toEqual(ed25519.getPublicKey(seed))
      for (const size of [0, 36, 1000]) {
        const message = bytes(size)
        const sig = signer.sign(message)
        expect(sig).toEqual(ed25519.sign(message, seed))
        expect(ed25519.verify(sig, message, signer.publicKey)).toBe(true)
      }
    }
  })

  it('signs utf8("idlemesh/checkpoint/v1\\0") || cid bytes, verified against the peer ID', async () => {
    const key = await generateKeyPair('Ed25519')
    const signer = createSigner(key.raw)
    expect(signer.peerId).toBe(peerIdFromPrivateKey(key).toString())
    const id = cidOf(bytes(10))
    const message = signingMessage(id)
    expect(message).toEqual(new Uint8Array([...new TextEncoder().encode('idlemesh/checkpoint/v1\0'), ...id.bytes]))
    expect(SIGNATURE_DOMAIN.at(-1)).toBe(0)
    const sig = ed25519.sign(message, key.raw.subarray(0, 32))
    expect(() => { verifyAuthorSignature(signer.peerId, id, sig) }).not.toThrow()

    const badSig = sig.slice()
    badSig[10] = (badSig[10] as number) ^ 1
    const bad = expect.objectContaining({ code: 'CHECKPOINT_BAD_SIGNATURE' })
    expect(() => { verifyAuthorSignature(signer.peerId, id, badSig) }).toThrow(bad)
    expect(() => { verifyAuthorSignature(signer.peerId, cidOf(bytes(10)), sig) }).toThrow(bad)
    // The bare id, without the domain prefix, must not verify.
    expect(() => { verifyAuthorSignature(signer.peerId, id, ed25519.sign(id.bytes, key.raw.subarray(0, 32))) }).toThrow(bad)
    const other = createSigner(libp2pRawKey(bytes(32)))
    expect(() => { verifyAuthorSignature(other.peerId, id, sig) }).toThrow(bad)
    expect(() => { verifyAuthorSignature('not-a-peer-id', id, sig) }).toThrow(bad)
  })

  it('refuses keys that are not a libp2p Ed25519 raw key', () => {
    const raw = libp2pRawKey(bytes(32))
    const mismatched = raw.slice()
    mismatched[40] = (mismatched[40] as number) ^ 1
    for (const key of [raw.subarray(0, 32), mismatched, new Uint8Array(65)]) {
      expect(() => createSigner(key)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_BAD_SIGNER_KEY' }))
    }
  })
})
