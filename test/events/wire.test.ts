import { randomBytes } from 'node:crypto'
import { zstdCompressSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { COMPRESS_MIN_BYTES, WIRE_VERSION, decodeGossip, encodeGossip, encodeWire, type GossipMessage } from '../../src/events/wire.ts'
import { recordJson } from '../../src/events/record.ts'

/** A record as nodes gossip it, with a payload of about `bytes` (JSON of a webhook-like object). */
function record (n: number, bytes = 1024): Uint8Array {
  const base = { v: 1, source: 'gh', id: `delivery-${n}`, receivedAt: 1_700_000_000_000 + n, receivedBy: '12D3KooWExample', event: { provider: 'github', type: 'check_run', action: 'completed' }, payload: { check_run: { id: n, status: 'completed', html_url: `https://github.com/acme/app/runs/${n}` }, padding: 'x'.repeat(bytes) }, decision: { rule: 'default', actions: [{ kind: 'noop' }] } }
  return recordJson(Buffer.from(JSON.stringify(base)), [{ state: 'pending', gen: 0 }])
}

describe('event gossip on the wire', () => {
  it('a batch of COMPRESS_MIN_BYTES or more travels compressed and comes back byte for byte', () => {
    const items = Array.from({ length: 100 }, (_, n) => record(n))
    const message: GossipMessage = { v: WIRE_VERSION, k: 'evs', items, ack: ['gh/delivery-3'] }
    const plain = encodeWire(message)
    const sent = encodeGossip(message)
    expect(plain.length).toBeGreaterThan(100 * 1024)
    // Records of similar webhooks: zstd takes ~100 KiB down to a few.
    expect(sent.length).toBeLessThan(plain.length / 10)
    const received = decodeGossip(sent)
    expect(received?.k).toBe('evs')
    if (received?.k !== 'evs') return
    expect(received.ack).toEqual(['gh/delivery-3'])
    expect(received.items.map(i => Buffer.from(i).toString('hex'))).toEqual(items.map(i => Buffer.from(i).toString('hex')))
  })

  it('a message under COMPRESS_MIN_BYTES goes as it is', () => {
    const message: GossipMessage = { v: WIRE_VERSION, k: 'ack', keys: ['gh/a', 'gh/b'] }
    const sent = encodeGossip(message)
    expect(Buffer.from(sent).equals(Buffer.from(encodeWire(message)))).toBe(true)
    expect(sent.length).toBeLessThan(COMPRESS_MIN_BYTES)
    expect(decodeGossip(sent)).toEqual(message)
  })

  it('refuses a compressed message that unpacks past the gossip limit, is corrupt, or wraps another', () => {
    // A well-formed batch of 5 MiB packs into a few hundred bytes: more than gossipsub carries.
    const huge = encodeWire({ v: WIRE_VERSION, k: 'evs', items: [Buffer.alloc(5 * 1024 * 1024, 'x')], ack: [] })
    const bomb = encodeWire({ v: WIRE_VERSION, k: 'z', z: zstdCompressSync(huge) })
    expect(bomb.length).toBeLessThan(4096)
    expect(decodeGossip(bomb)).toBeUndefined()
    // The same under the limit decodes: the refusal above is the limit's.
    const large = encodeWire({ v: WIRE_VERSION, k: 'evs', items: [Buffer.alloc(3 * 1024 * 1024, 'x')], ack: [] })
    expect(decodeGossip(encodeWire({ v: WIRE_VERSION, k: 'z', z: zstdCompressSync(large) }))?.k).toBe('evs')

    expect(decodeGossip(encodeWire({ v: WIRE_VERSION, k: 'z', z: randomBytes(2048) }))).toBeUndefined()

    const inner = encodeGossip({ v: WIRE_VERSION, k: 'evs', items: Array.from({ length: 20 }, (_, n) => record(n)), ack: [] })
    const nested = encodeWire({ v: WIRE_VERSION, k: 'z', z: zstdCompressSync(inner) })
    expect(decodeGossip(inner)?.k).toBe('evs')
    expect(decodeGossip(nested)).toBeUndefined()
  })
})
