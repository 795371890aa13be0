import { describe, it, expect } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { cidOf, signingMessage, xchachaOpen } from '../../src/checkpoints/crypto.ts'
import { createKeyring } from '../../src/checkpoints/keyring.ts'
import {
  MAX_META_BYTES, checkSeq, compareHeads, computeId, decodeEnvelope, encodeHeader, openCheckpoint,
  pickLatest, sealCheckpoint, validateStreamName, verifyEnvelope
} from '../../src/checkpoints/format.ts'
import type { Checkpoint, Envelope, Head } from '../../src/checkpoints/format.ts'
import { CHECKPOINT_ERRORS } from '../../src/checkpoints/format-errors.ts'
import { post, randomKeyring, randomSigner, tamper } from './format-helpers.ts'

const code = (c: keyof typeof CHECKPOINT_ERRORS): unknown => expect.objectContaining({ code: c, status: CHECKPOINT_ERRORS[c].status })
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** The bytes and every id path agree with a plain dag-cbor encoding of the envelope. */
function expectPlainEncoding (cp: Checkpoint): void {
  const { sig, ...unsigned } = cp.envelope
  const id = cidOf(dagCbor.encode(unsigned))
  expect(sig).toHaveLength(64)
  expect(cp.bytes).toEqual(dagCbor.encode(cp.envelope))
  expect(cp.id.equals(id)).toBe(true)
  const decoded = decodeEnvelope(cp.bytes)
  expect(decoded.id.equals(id)).toBe(true)
  expect(computeId(decoded.envelope).equals(id)).toBe(true)
  expect(computeId({ ...decoded.envelope }).equals(id)).toBe(true) // not frozen: encoded afresh
}

const alice = randomSigner()
const mallory = randomSigner()
const keyring = randomKeyring('k1', 'k2')

describe('sealCheckpoint / decodeEnvelope / verifyEnvelope / openCheckpoint', () => {
  it('round-trips a first checkpoint and its child', () => {
    const first = post([], { keyring, signer: alice, payload: utf8('one'), meta: { label: 'a', kind: 'handoff', size: 3, contentType: 'text/plain', user: { pr: '42' } }, time: 1000 })
    expect(first.envelope).toMatchObject({ v: 1, stream: 'owner/repo', parents: [], seq: 1, author: alice.peerId, time: 1000, keyId: 'k2' })
    expect(first.envelope.meta).toEqual({ label: 'a', kind: 'handoff', size: 3, contentType: 'text/plain', user: { pr: '42' } })
    const child = post([first], { keyring, signer: alice, payload: utf8('two') })
    expect(child.envelope.seq).toBe(2)
    expect(child.envelope.parents.map(String)).toEqual([first.id.toString()])

    for (const cp of [first, child]) {
      const decoded = decodeEnvelope(cp.bytes)
      expect(decoded.id.equals(cp.id)).toBe(true)
      expect(decoded.envelope).toEqual(cp.envelope)
      expect(cp.id.equals(computeId(cp.envelope))).toBe(true)
      verifyEnvelope(decoded.envelope, decoded.id, { isMember: (p) => p === alice.peerId })
    }
    expect(openCheckpoint(decodeEnvelope(child.bytes).envelope, keyring)).toEqual(utf8('two'))
  })

  it('encodes parents as CID links, sorted by bytes, and the id is the dag-cbor CID without sig', () => {
    const roots = [0, 1, 2, 3].map(() => post([], { keyring, signer: alice }))
    const merge = post([roots[2], roots[0], roots[3], roots[1]] as Checkpoint[], { keyring, signer: alice })
    const sorted = roots.map((r) => r.id).sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    expect(merge.envelope.parents.map(String)).toEqual(sorted.map(String))
    const raw = dagCbor.decode<Record<string, unknown>>(merge.bytes)
    expect((raw.parents as unknown[]).every((p) => CID.asCID(p) !== null)).toBe(true)
    const { sig, ...unsigned } = raw
    expect(sig).toEqual(merge.envelope.sig)
    expect(cidOf(dagCbor.encode(unsigned)).equals(merge.id)).toBe(true)
    expect(merge.id.code).toBe(0x71)
    expect(merge.id.multihash.code).toBe(0x12)
  })

  it('uses 1 + the greatest parent seq and collapses duplicate parents', () => {
    const a = post([], { keyring, signer: alice })
    const b = post([a], { keyring, signer: alice })
    const c = post([b], { keyring, signer: alice })
    const merge = post([], { keyring, signer: alice, parents: [{ id: a.id, seq: 1 }, { id: c.id, seq: 3 }, { id: a.id, seq: 1 }] })
    expect(merge.envelope.seq).toBe(4)
    expect(merge.envelope.parents).toHaveLength(2)
    expect(() => post([], { keyring, signer: alice, parents: [{ id: a.id, seq: 1 }, { id: a.id, seq: 2 }] })).toThrow(code('CHECKPOINT_BAD_SEQ'))
    expect(() => post([], { keyring, signer: alice, parents: [{ id: a.id, seq: 0 }] })).toThrow(code('CHECKPOINT_BAD_SEQ'))
  })

  it('derives the same id from the bytes as from a fresh encoding, for seqs of every CBOR width', () => {
    const root = post([], { keyring, signer: alice })
    for (const parentSeq of [1, 22, 23, 24, 254, 255, 256, 65534, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40]) {
      const cp = post([], { keyring, signer: alice, parents: [{ id: root.id, seq: parentSeq }] })
      expect(cp.envelope.seq).toBe(parentSeq + 1)
      expectPlainEncoding(cp)
    }
  })

  it('assembles the same bytes as a fresh dag-cbor encoding for ciphertexts of every CBOR width', () => {
    for (const size of [0, 7, 8, 239, 240, 65519, 65520]) {
      const cp = post([], { keyring, signer: alice, payload: new Uint8Array(size) })
      expect(cp.envelope.ciphertext).toHaveLength(size + 16)
      expectPlainEncoding(cp)
    }
  })

  it('returns frozen envelopes, so the header encoded for decryption cannot drift from them', () => {
    const cp = post([], { keyring, signer: alice, meta: { user: { a: 'b' } } })
    for (const envelope of [cp.envelope, decodeEnvelope(cp.bytes).envelope]) {
      expect(Object.isFrozen(envelope)).toBe(true)
      expect(Object.isFrozen(envelope.parents)).toBe(true)
      expect(Object.isFrozen(envelope.meta)).toBe(true)
      expect(Object.isFrozen(envelope.meta.user)).toBe(true)
    }
  })

  it('opens envelopes it did not decode itself (no cached header)', () => {
    const cp = post([], { keyring, signer: alice, payload: utf8('copy') })
    const copy: Envelope = { ...cp.envelope, meta: { ...cp.envelope.meta } }
    expect(openCheckpoint(copy, keyring)).toEqual(utf8('copy'))
    expect(() => openCheckpoint({ ...copy, time: copy.time + 1 }, keyring)).toThrow(code('CHECKPOINT_DECRYPT_FAILED'))
  })

  it('binds the AEAD to the encoded header: every field but ciphertext and sig', () => {
    const cp = post([], { keyring, signer: alice, payload: utf8('secret') })
    const { ciphertext, sig, ...header } = cp.envelope
    expect(encodeHeader(cp.envelope)).toEqual(dagCbor.encode(header))
    const key = keyring.streamKey('k2', 'owner/repo')
    expect(xchachaOpen(key, cp.envelope.nonce, ciphertext, dagCbor.encode(header))).toEqual(utf8('secret'))
    expect(sig).toHaveLength(64)
  })

  it('uses a fresh random nonce per seal', () => {
    const a = post([], { keyring, signer: alice, time: 1 })
    const b = post([], { keyring, signer: alice, time: 1 })
    expect(a.envelope.nonce).not.toEqual(b.envelope.nonce)
    expect(a.id.equals(b.id)).toBe(false)
  })

  it('opens empty and large payloads', () => {
    for (const size of [0, 1, 300_000]) {
      const payload = new Uint8Array(size).map((_, i) => i)
      const cp = post([], { keyring, signer: alice, payload })
      expect(openCheckpoint(decodeEnvelope(cp.bytes).envelope, keyring)).toEqual(payload)
    }
  })

  it('decodes byte strings as views of the envelope bytes: a large ciphertext is never copied', () => {
    for (const size of [1000, 70_000]) {
      const decoded = decodeEnvelope(post([], { keyring, signer: alice, payload: new Uint8Array(size) }).bytes)
      const { ciphertext, nonce, sig } = decoded.envelope
      for (const field of [ciphertext, nonce, sig]) expect(field.buffer).toBe(decoded.bytes.buffer)
      expect(ciphertext.byteOffset + ciphertext.length).toBe(decoded.bytes.byteOffset + decoded.bytes.length)
    }
  })

  it('refuses a large envelope cut short, or with its ciphertext length in a longer form than needed', () => {
    const cp = post([], { keyring, signer: alice, payload: new Uint8Array(70_000) })
    expect(() => decodeEnvelope(cp.bytes.subarray(0, cp.bytes.length - 1))).toThrow(code('CHECKPOINT_MALFORMED'))
    // The same length as an 8-byte argument (0x5b) instead of the 4-byte one (0x5a).
    const ctAt = cp.bytes.length - cp.envelope.ciphertext.length - 5
    expect(cp.bytes[ctAt]).toBe(0x5a)
    const long = new Uint8Array(cp.bytes.length + 4)
    long.set(cp.bytes.subarray(0, ctAt))
    long[ctAt] = 0x5b
    long.set(cp.bytes.subarray(ctAt + 1), ctAt + 5)
    expect(() => decodeEnvelope(long)).toThrow(code('CHECKPOINT_MALFORMED'))
  })
})

describe('tampering', () => {
  const parent = post([], { keyring, signer: alice })
  const original = post([parent], { keyring, signer: alice, payload: utf8('the real payload'), meta: { label: 'real', size: 16 }, time: 5000 })
  const other = post([], { keyring, signer: alice })
  const headerChanges: Record<string, (e: Envelope) => void> = {
    stream: (e) => { e.stream = 'owner/other' },
    parents: (e) => { e.parents = [other.id] },
    seq: (e) => { e.seq = 7 },
    author: (e) => { e.author = mallory.peerId },
    time: (e) => { e.time = 5001 },
    meta: (e) => { e.meta = { label: 'fake', size: 16 } },
    keyId: (e) => { e.keyId = 'k1' },
    nonce: (e) => { e.nonce[0] = (e.nonce[0] as number) ^ 1 }
  }

  for (const [field, change] of Object.entries(headerChanges)) {
    it(`a changed ${field} changes the id, breaks the signature and fails decryption`, () => {
      const tampered = decodeEnvelope(tamper(original.envelope, change))
      expect(tampered.id.equals(original.id)).toBe(false)
      expect(() => { verifyEnvelope(tampered.envelope, original.id) }).toThrow(code('CHECKPOINT_ID_MISMATCH'))
      expect(() => { verifyEnvelope(tampered.envelope, tampered.id) }).toThrow(code('CHECKPOINT_BAD_SIGNATURE'))
      expect(() => openCheckpoint(tampered.envelope, keyring)).toThrow(code('CHECKPOINT_DECRYPT_FAILED'))
    })

    it(`a changed ${field} re-signed by a non-member with their own author fails membership and decryption`, () => {
      const bytes = tamper(original.envelope, (e) => { change(e); e.author = mallory.peerId })
      const forged = decodeEnvelope(bytes)
      const resigned = decodeEnvelope(dagCbor.encode({ ...forged.envelope, sig: mallory.sign(signingMessage(forged.id)) }))
      expect(() => { verifyEnvelope(resigned.envelope, resigned.id) }).not.toThrow()
      expect(() => { verifyEnvelope(resigned.envelope, resigned.id, { isMember: (p) => p === alice.peerId }) }).toThrow(code('CHECKPOINT_NOT_MEMBER'))
      expect(() => openCheckpoint(resigned.envelope, keyring)).toThrow(code('CHECKPOINT_DECRYPT_FAILED'))
    })
  }

  for (const at of ['first', 'middle', 'tag'] as const) {
    it(`a flipped ciphertext byte (${at}) breaks the signature and fails decryption`, () => {
      const length = original.envelope.ciphertext.length
      const index = at === 'first' ? 0 : at === 'middle' ? 8 : length - 1
      const tampered = decodeEnvelope(tamper(original.envelope, (e) => { e.ciphertext[index] = (e.ciphertext[index] as number) ^ 0x80 }))
      expect(tampered.id.equals(original.id)).toBe(false)
      expect(() => { verifyEnvelope(tampered.envelope, tampered.id) }).toThrow(code('CHECKPOINT_BAD_SIGNATURE'))
      expect(() => openCheckpoint(tampered.envelope, keyring)).toThrow(code('CHECKPOINT_DECRYPT_FAILED'))
    })
  }

  it('a truncated or extended ciphertext fails', () => {
    for (const change of [(e: Envelope) => { e.ciphertext = e.ciphertext.subarray(0, e.ciphertext.length - 1) }, (e: Envelope) => { e.ciphertext = new Uint8Array([...e.ciphertext, 0]) }]) {
      const tampered = decodeEnvelope(tamper(original.envelope, change))
      expect(() => { verifyEnvelope(tampered.envelope, tampered.id) }).toThrow(code('CHECKPOINT_BAD_SIGNATURE'))
      expect(() => openCheckpoint(tampered.envelope, keyring)).toThrow(code('CHECKPOINT_DECRYPT_FAILED'))
    }
  })

  it('a changed signature does not change the id but fails verification', () => {
    const tampered = decodeEnvelope(tamper(original.envelope, (e) => { e.sig[0] = (e.sig[0] as number) ^ 1 }))
    expect(tampered.id.equals(original.id)).toBe(true)
    expect(() => { verifyEnvelope(tampered.envelope, tampered.id) }).toThrow(code('CHECKPOINT_BAD_SIGNATURE'))
  })

  it('a checkpoint signed by someone other than its author fails', () => {
    const impostor = { peerId: alice.peerId, publicKey: alice.publicKey, sign: mallory.sign }
    const cp = post([], { keyring, signer: impostor })
    expect(cp.envelope.author).toBe(alice.peerId)
    expect(() => { verifyEnvelope(cp.envelope, cp.id) }).toThrow(code('CHECKPOINT_BAD_SIGNATURE'))
  })
})

describe('keys', () => {
  const cp = post([], { keyring, signer: alice, payload: utf8('for k2 only') })

  it('a wrong master key under the same id cannot open', () => {
    const wrong = createKeyring([{ id: 'k2', key: new Uint8Array(32).fill(9) }])
    expect(() => openCheckpoint(cp.envelope, wrong)).toThrow(code('CHECKPOINT_DECRYPT_FAILED'))
  })

  it('another stream\'s derived key cannot open', () => {
    const otherStreamKey = keyring.streamKey('k2', 'owner/other')
    expect(() => xchachaOpen(otherStreamKey, cp.envelope.nonce, cp.envelope.ciphertext, encodeHeader(cp.envelope))).toThrow(code('CHECKPOINT_DECRYPT_FAILED'))
    expect(xchachaOpen(keyring.streamKey('k2', 'owner/repo'), cp.envelope.nonce, cp.envelope.ciphertext, encodeHeader(cp.envelope))).toEqual(utf8('for k2 only'))
  })

  it('an unknown keyId is CHECKPOINT_UNKNOWN_KEY', () => {
    const older = createKeyring([{ id: 'k1', key: new Uint8Array(32) }])
    expect(() => openCheckpoint(cp.envelope, older)).toThrow(code('CHECKPOINT_UNKNOWN_KEY'))
  })

  it('rotation: the newest key seals, every key opens', () => {
    const k1 = new Uint8Array(32).fill(1)
    const k2 = new Uint8Array(32).fill(2)
    const before = createKeyring([{ id: 'k1', key: k1 }])
    const after = createKeyring([{ id: 'k1', key: k1 }, { id: 'k2', key: k2 }])
    expect(after.sealKeyId).toBe('k2')
    const old = post([], { keyring: before, signer: alice, payload: utf8('old') })
    const fresh = post([old], { keyring: after, signer: alice, payload: utf8('new') })
    expect(old.envelope.keyId).toBe('k1')
    expect(fresh.envelope.keyId).toBe('k2')
    expect(openCheckpoint(old.envelope, after)).toEqual(utf8('old'))
    expect(openCheckpoint(fresh.envelope, after)).toEqual(utf8('new'))
    expect(() => openCheckpoint(fresh.envelope, before)).toThrow(code('CHECKPOINT_UNKNOWN_KEY'))
  })

  it('refuses unusable keyrings', () => {
    const bad = code('CHECKPOINT_BAD_KEYRING')
    expect(() => createKeyring([])).toThrow(bad)
    expect(() => createKeyring([{ id: 'k1', key: new Uint8Array(16) }])).toThrow(bad)
    expect(() => createKeyring([{ id: 'bad id', key: new Uint8Array(32) }])).toThrow(bad)
    expect(() => createKeyring([{ id: 'k1', key: new Uint8Array(32) }, { id: 'k1', key: new Uint8Array(32) }])).toThrow(bad)
  })

  it('does not expose master keys', () => {
    const master = new Uint8Array(32).fill(7)
    const ring = createKeyring([{ id: 'k1', key: master }])
    expect(JSON.stringify(ring)).not.toContain('7,7,7')
    master.fill(0)
    expect(ring.streamKey('k1', 's')).toEqual(createKeyring([{ id: 'k1', key: new Uint8Array(32).fill(7) }]).streamKey('k1', 's'))
  })
})

describe('validation', () => {
  it('accepts good stream names and rejects bad ones with CHECKPOINT_BAD_STREAM', () => {
    for (const name of ['default', 'owner/repo', 'a', 'a.b_c-d/e/f', 'x'.repeat(128), 'v1.2']) {
      expect(validateStreamName(name)).toBe(name)
    }
    for (const name of ['', 'x'.repeat(129), '/a', 'a/', 'a//b', '..', 'a/../b', 'a..b', 'a b', 'é', 'a\nb', 'a:b', 7, undefined]) {
      expect(() => validateStreamName(name)).toThrow(code('CHECKPOINT_BAD_STREAM'))
    }
    expect(() => post([], { keyring, signer: alice, stream: 'a//b' })).toThrow(code('CHECKPOINT_BAD_STREAM'))
  })

  it('caps and checks meta', () => {
    const bad = code('CHECKPOINT_BAD_META')
    expect(() => post([], { keyring, signer: alice, meta: { user: { big: 'x'.repeat(MAX_META_BYTES) } } })).toThrow(bad)
    expect(() => post([], { keyring, signer: alice, meta: { user: { 'bad key': 'v' } } })).toThrow(bad)
    expect(() => post([], { keyring, signer: alice, meta: { size: -1 } })).toThrow(bad)
    expect(() => post([], { keyring, signer: alice, meta: { secret: 'x' } as never })).toThrow(bad)
    const ok = post([], { keyring, signer: alice, meta: { label: undefined, user: {} } })
    expect(ok.envelope.meta).toEqual({})
  })

  it('decodeEnvelope rejects anything but a canonical v1 envelope with CHECKPOINT_MALFORMED', () => {
    const good = post([post([], { keyring, signer: alice })], { keyring, signer: alice })
    const bad = code('CHECKPOINT_MALFORMED')
    const e = good.envelope
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      utf8('not cbor at all'),
      dagCbor.encode([1, 2, 3]),
      dagCbor.encode({ ...e, extra: 1 }),
      dagCbor.encode({ ...e, v: 2 }),
      tamper(e, (x) => { x.parents = [...x.parents, ...x.parents] }),
      tamper(e, (x) => { x.parents = [] }), // seq 2 without parents
      tamper(e, (x) => { x.seq = 0 }),
      tamper(e, (x) => { x.seq = 1.5 }),
      tamper(e, (x) => { x.time = -1 }),
      tamper(e, (x) => { x.stream = '/abs' }),
      tamper(e, (x) => { x.keyId = '' }),
      tamper(e, (x) => { x.nonce = x.nonce.subarray(0, 12) }),
      tamper(e, (x) => { x.sig = x.sig.subarray(0, 63) }),
      tamper(e, (x) => { x.ciphertext = new Uint8Array(15) }),
      tamper(e, (x) => { x.meta = { user: { k: 1 } } as never }),
      tamper(e, (x) => { x.meta = { user: { big: 'x'.repeat(MAX_META_BYTES) } } }),
      tamper(e, (x) => { x.parents = [CID.parse('bafkqaaa')] }),
      new Uint8Array([...good.bytes, 0])
    ]
    const { sig, ...withoutSig } = e
    cases.push(dagCbor.encode(withoutSig))
    for (const bytes of cases) expect(() => decodeEnvelope(bytes)).toThrow(bad)
  })

  it('decodeEnvelope rejects a non-canonical encoding of a valid envelope', () => {
    const cp = post([], { keyring, signer: alice, time: 1_767_225_600_000 })
    // time is a uint64 (0x1b + 8 bytes); the same value as a float64 (0xfb + 8 bytes) decodes
    // to the same number and has the same length, but is not canonical dag-cbor.
    const key = [0x64, ...utf8('time'), 0x1b]
    const at = Buffer.from(cp.bytes).indexOf(Buffer.from(key)) + key.length - 1
    const bytes = cp.bytes.slice()
    bytes[at] = 0xfb
    new DataView(bytes.buffer).setFloat64(at + 1, 1_767_225_600_000)
    expect(() => decodeEnvelope(bytes)).toThrow(code('CHECKPOINT_MALFORMED'))
  })

  it('decodeEnvelope rejects map keys out of canonical order', () => {
    const cp = post([], { keyring, signer: alice })
    const bytes = Buffer.from(cp.bytes)
    const keyIdAt = bytes.indexOf(Buffer.from([0x65, ...utf8('keyId')]))
    const nonceAt = bytes.indexOf(Buffer.from([0x65, ...utf8('nonce')]))
    const nonceEnd = nonceAt + 6 + 2 + 24 // key, bytes(24) head, nonce
    expect(keyIdAt).toBeGreaterThan(0)
    expect(nonceAt).toBeGreaterThan(keyIdAt)
    const swapped = Buffer.concat([bytes.subarray(0, keyIdAt), bytes.subarray(nonceAt, nonceEnd), bytes.subarray(keyIdAt, nonceAt), bytes.subarray(nonceEnd)])
    expect(swapped).toHaveLength(bytes.length)
    expect(() => decodeEnvelope(new Uint8Array(swapped))).toThrow(code('CHECKPOINT_MALFORMED'))
  })

  it('verifyEnvelope applies the membership check', () => {
    const cp = post([], { keyring, signer: alice })
    expect(() => { verifyEnvelope(cp.envelope, cp.id, { isMember: () => false }) }).toThrow(code('CHECKPOINT_NOT_MEMBER'))
  })
})

describe('checkSeq', () => {
  const a = post([], { keyring, signer: alice })
  const b = post([a], { keyring, signer: alice })
  const c = post([a], { keyring, signer: alice })
  const merge = post([b, c], { keyring, signer: alice })
  const known = new Map([a, b, c].map((cp) => [cp.id.toString(), cp.envelope.seq]))
  const lookup = (id: CID): number | undefined => known.get(id.toString())

  it('accepts 1 + the greatest parent seq', () => {
    expect(() => { checkSeq(a.envelope, lookup) }).not.toThrow()
    expect(() => { checkSeq(merge.envelope, lookup) }).not.toThrow()
  })

  it('reports an unknown parent and a wrong seq', () => {
    expect(() => { checkSeq(merge.envelope, (id) => id.equals(b.id) ? 2 : undefined) }).toThrow(code('CHECKPOINT_MISSING_PARENT'))
    const wrong = post([], { keyring, signer: alice, parents: [{ id: b.id, seq: 5 }] })
    expect(() => { checkSeq(wrong.envelope, lookup) }).toThrow(code('CHECKPOINT_BAD_SEQ'))
  })
})

describe('compareHeads / pickLatest', () => {
  const heads: Head[] = [1, 2, 3, 3, 3, 5, 5].map((seq, i) => ({ seq, id: cidOf(utf8(`head ${i}`)) }))

  function permutations<T> (items: T[]): T[][] {
    if (items.length <= 1) return [items]
    return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
  }

  it('picks the greatest (seq, id bytes) whatever the order', () => {
    const top = heads.filter((h) => h.seq === 5).sort((x, y) => Buffer.compare(x.id.bytes, y.id.bytes)).at(-1) as Head
    for (const order of permutations(heads)) {
      expect(pickLatest(order)?.id.toString()).toBe(top.id.toString())
    }
    expect(pickLatest([])).toBeUndefined()
  })

  it('orders by seq first, then id bytes', () => {
    const [low, high] = [heads[0], heads[5]] as [Head, Head]
    expect(compareHeads(low, high)).toBeLessThan(0)
    expect(compareHeads(high, low)).toBeGreaterThan(0)
    expect(compareHeads(low, { ...low })).toBe(0)
    const sameSeq = heads.filter((h) => h.seq === 3)
    const sorted = [...sameSeq].sort(compareHeads).map((h) => Buffer.from(h.id.bytes).toString('hex'))
    expect(sorted).toEqual(sameSeq.map((h) => Buffer.from(h.id.bytes).toString('hex')).sort())
  })

  it('gives the same sort on every node', () => {
    const sorted = [...heads].sort(compareHeads).map(String)
    for (const order of [[...heads].reverse(), [heads[3], heads[0], heads[6], heads[1], heads[5], heads[2], heads[4]] as Head[]]) {
      expect([...order].sort(compareHeads).map(String)).toEqual(sorted)
    }
  })
})

describe('sealCheckpoint is deterministic given time and nonce', () => {
  it('produces identical bytes twice (Ed25519 signatures are deterministic)', () => {
    const init = { stream: 's', parents: [], payload: utf8('x'), time: 1, nonce: new Uint8Array(24), keyring, signer: alice }
    expect(sealCheckpoint(init).bytes).toEqual(sealCheckpoint(init).bytes)
  })
})
