import { randomBytes } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { sodiumNoiseCrypto } from '../../src/mesh/noise-crypto.ts'

const key = randomBytes(32)
const nonce = Buffer.concat([Buffer.alloc(4), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])])
const ad = randomBytes(32)
// node_modules holds two copies of uint8arraylist whose types differ only in a private symbol.
const pieces = (...parts: Uint8Array[]): Uint8Array => new Uint8ArrayList(...parts) as unknown as Uint8Array
const flat = (bytes: { subarray: () => Uint8Array }): Buffer => Buffer.from(bytes.subarray())

describe('Noise transport cipher (ChaCha20-Poly1305 on libsodium)', () => {
  it('seals exactly as the noise package does, and each opens what the other sealed', () => {
    for (const size of [0, 1, 200, 1199, 1200, 1400, 65_519]) {
      const message = randomBytes(size)
      const ours = flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(message, nonce, ad, key))
      expect(ours.equals(flat(defaultCrypto.chaCha20Poly1305Encrypt(message, nonce, ad, key)))).toBe(true)
      expect(flat(defaultCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, key)).equals(message)).toBe(true)
      expect(flat(sodiumNoiseCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, key)).equals(message)).toBe(true)
    }
  })

  it('takes a message in pieces (Uint8ArrayList) and decrypts in place into the ciphertext', () => {
    const message = randomBytes(3000)
    const sealed = flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(pieces(message.subarray(0, 1000), message.subarray(1000)), nonce, ad, key))
    const dst = sealed.subarray(0, sealed.length - 16)
    const opened = sodiumNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, key, dst)
    expect(flat(opened).equals(message)).toBe(true)
    expect(opened.subarray().buffer).toBe(sealed.buffer)
  })

  it('refuses a flipped ciphertext bit, other associated data, another nonce and a stub', () => {
    const sealed = flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(randomBytes(100), nonce, ad, key))
    const flipped = Buffer.from(sealed)
    flipped[10] = (flipped[10] as number) ^ 1
    expect(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(flipped, nonce, ad, key)).toThrow()
    expect(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, randomBytes(32), key)).toThrow()
    expect(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(sealed, Buffer.alloc(12), ad, key)).toThrow()
    expect(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(sealed.subarray(0, 15), nonce, ad, key)).toThrow()
  })
})
