import { describe, it, expect } from 'vitest'
import { randomBytes } from 'node:crypto'
import { ScratchBuffer } from '../../src/checkpoints/scratch.ts'
import { xchachaOpen, xchachaSeal } from '../../src/checkpoints/crypto.ts'
import { setTimeout as sleep } from 'node:timers/promises'

describe('ScratchBuffer', () => {
  it('hands out views of one buffer, grown only when a larger size is asked for', () => {
    const scratch = new ScratchBuffer()
    const a = scratch.take(100)
    const b = scratch.take(50)
    expect(a).toHaveLength(100)
    expect(b).toHaveLength(50)
    expect(b.buffer).toBe(a.buffer)
    const c = scratch.take(1000)
    expect(c.buffer).not.toBe(a.buffer)
    expect(scratch.take(10).buffer).toBe(c.buffer)
    scratch.release()
  })

  it('lets the buffer go after it was not used for the release time', async () => {
    const scratch = new ScratchBuffer(50)
    const first = scratch.take(64)
    await sleep(20)
    expect(scratch.take(64).buffer).toBe(first.buffer)
    await sleep(150)
    expect(scratch.take(64).buffer).not.toBe(first.buffer)
    scratch.release()
  })

  it('takes a checkpoint plaintext in place of fresh memory', () => {
    const key = new Uint8Array(randomBytes(32))
    const nonce = new Uint8Array(randomBytes(24))
    const plaintext = new Uint8Array(randomBytes(4096))
    const sealed = xchachaSeal(key, nonce, plaintext, new Uint8Array(0))
    const scratch = new ScratchBuffer()
    const into = scratch.take(sealed.length)
    const opened = xchachaOpen(key, nonce, sealed, new Uint8Array(0), into)
    expect(opened).toEqual(plaintext)
    expect(opened.buffer).toBe(into.buffer)
    expect(() => xchachaOpen(key, nonce, sealed, new Uint8Array(0), new Uint8Array(10))).toThrow(RangeError)
    scratch.release()
  })
})
