import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { applyPnetMemoryFix } from '../../src/mesh/pnet-memory-fix.ts'

describe('xsalsa20 shared WASM memory (pnet)', () => {
  it('many ciphers that each see a large input do not grow the shared memory past its limit', () => {
    applyPnetMemoryFix()
    const requireFromPnet = createRequire(createRequire(import.meta.url).resolve('@libp2p/pnet'))
    const xsalsa20 = requireFromPnet('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => { update: (input: Uint8Array, output?: Uint8Array) => Uint8Array }
    // 40 ciphers (20 connections) each decrypting a 4 MiB read: 160 MiB of cumulative growth
    // without the fix, which WebAssembly refuses; with it the memory stays at about 4 MiB.
    const ciphers = Array.from({ length: 40 }, (_, i) => xsalsa20(new Uint8Array(24).fill(i), new Uint8Array(32).fill(7)))
    const input = new Uint8Array(4 * 1024 * 1024).fill(1)
    for (const cipher of ciphers) expect(() => cipher.update(input, new Uint8Array(input.length))).not.toThrow()
    // And the cipher still computes the same keystream as a fresh one.
    const a = xsalsa20(new Uint8Array(24), new Uint8Array(32)).update(new Uint8Array(1000), new Uint8Array(1000))
    const b = xsalsa20(new Uint8Array(24), new Uint8Array(32)).update(new Uint8Array(1000), new Uint8Array(1000))
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true)
  })
})
