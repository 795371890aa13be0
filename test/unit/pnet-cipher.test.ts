import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { xsalsa20 as nobleXSalsa20 } from '@noble/ciphers/salsa.js'
import { describe, expect, it } from 'vitest'
import { applyPnetSodiumCipher } from '../../src/mesh/pnet-cipher.ts'

interface Cipher { update: (input: Uint8Array, output?: Uint8Array) => Uint8Array, finalize: () => void }

/** The `xsalsa20` package as pnet loads it (from pnet's own folder), after the patch. */
function pnetXSalsa20 (): (nonce: Uint8Array, key: Uint8Array) => Cipher {
  applyPnetSodiumCipher()
  const requireFromPnet = createRequire(createRequire(import.meta.url).resolve('@libp2p/pnet'))
  return requireFromPnet('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => Cipher
}

describe('pnet cipher (xsalsa20 on libsodium)', () => {
  it('computes the same XSalsa20 keystream as @noble/ciphers, across uneven chunks', () => {
    const xsalsa20 = pnetXSalsa20()
    const nonce = randomBytes(24)
    const key = randomBytes(32)
    const cipher = xsalsa20(nonce, key)
    // Chunk sizes that start and end mid-block (64 bytes), as network reads do.
    const chunks = [1, 63, 64, 65, 1000, 7, 65_536, 3, 128].map(n => randomBytes(n))
    const out = chunks.map(chunk => Buffer.from(cipher.update(chunk)))
    cipher.finalize()
    const whole = Buffer.concat(chunks)
    expect(Buffer.concat(out).equals(Buffer.from(nobleXSalsa20(key, nonce, whole)))).toBe(true)
  })

  it('keeps each cipher separate: two streams with different nonces interleaved', () => {
    const xsalsa20 = pnetXSalsa20()
    const key = randomBytes(32)
    const [n1, n2] = [randomBytes(24), randomBytes(24)]
    const [a, b] = [xsalsa20(n1, key), xsalsa20(n2, key)]
    const data = randomBytes(300)
    const outA = Buffer.concat([a.update(data.subarray(0, 100)), a.update(data.subarray(100))])
    const outB = Buffer.concat([b.update(data.subarray(0, 250)), b.update(data.subarray(250))])
    expect(outA.equals(Buffer.from(nobleXSalsa20(key, n1, data)))).toBe(true)
    expect(outB.equals(Buffer.from(nobleXSalsa20(key, n2, data)))).toBe(true)
  })

  it('ciphers that are never used or finalized (as pnet leaves them) do not use up the package\'s memory', () => {
    const xsalsa20 = pnetXSalsa20()
    // Each held a 64-byte slot of a memory with room for ~10,000: a peer that opens connections
    // and sends nothing but nonces would have left the node unable to make another cipher.
    const key = randomBytes(32)
    for (let i = 0; i < 30_000; i++) xsalsa20(randomBytes(24), key)
    const nonce = randomBytes(24)
    const data = randomBytes(1000)
    expect(Buffer.from(xsalsa20(nonce, key).update(data)).equals(Buffer.from(nobleXSalsa20(key, nonce, data)))).toBe(true)
  })

  it('many ciphers that each see a large input do not exhaust WebAssembly memory', () => {
    const xsalsa20 = pnetXSalsa20()
    // 40 ciphers (20 connections) each decrypting a 4 MiB read: the package alone grew its
    // shared memory by 160 MiB doing this, which WebAssembly refuses.
    const ciphers = Array.from({ length: 40 }, (_, i) => xsalsa20(new Uint8Array(24).fill(i), new Uint8Array(32).fill(7)))
    const input = new Uint8Array(4 * 1024 * 1024).fill(1)
    for (const cipher of ciphers) expect(() => cipher.update(input, new Uint8Array(input.length))).not.toThrow()
  })
})
