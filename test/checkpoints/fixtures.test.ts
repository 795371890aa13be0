import { describe, it, expect } from 'vitest'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import { sha256 as multiformatsSha256 } from 'multiformats/hashes/sha2'
import { createKeyring } from '../../src/checkpoints/keyring.ts'
import { FORMAT_VERSION, decodeEnvelope, openCheckpoint, pickLatest, verifyEnvelope } from '../../src/checkpoints/format.ts'
import { verifyChain } from '../../src/checkpoints/verify-chain.ts'
import { FIXTURE_FILE, buildFixtures } from './make-fixtures.ts'

interface FixtureFile {
  v: number
  stream: string
  keys: Array<{ id: string, keyHex: string }>
  authors: Record<string, { seedHex: string, peerId: string }>
  latest: string
  checkpoints: Array<{
    name: string
    id: string
    parents: string[]
    seq: number
    author: string
    keyId: string
    time: number
    nonceHex: string
    payloadBase64: string
    envelopeBase64: string
  }>
}

const dir = dirname(FIXTURE_FILE)
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))

describe('golden checkpoint fixtures', () => {
  it('exist for the current format version', () => {
    expect(files).toContain(`v${FORMAT_VERSION}-stream.json`)
  })

  for (const file of files) {
    const fixture = JSON.parse(readFileSync(join(dir, file), 'utf8')) as FixtureFile
    const keyring = createKeyring(fixture.keys.map((k) => ({ id: k.id, key: hex(k.keyHex) })))
    const byName = new Map(fixture.checkpoints.map((c) => [c.name, c]))

    it(`${file}: decodes, verifies and opens every checkpoint with today's code, recomputing the same ids`, () => {
      for (const c of fixture.checkpoints) {
        const { id, envelope } = decodeEnvelope(b64(c.envelopeBase64))
        expect(id.toString()).toBe(c.id)
        expect(envelope.stream).toBe(fixture.stream)
        expect(envelope.seq).toBe(c.seq)
        expect(envelope.keyId).toBe(c.keyId)
        expect(envelope.time).toBe(c.time)
        expect(envelope.author).toBe(fixture.authors[c.author]?.peerId)
        expect(envelope.parents.map(String).sort()).toEqual(c.parents.map((p) => byName.get(p)?.id).sort())
        verifyEnvelope(envelope, CID.parse(c.id), { isMember: (p) => Object.values(fixture.authors).some((a) => a.peerId === p) })
        expect(openCheckpoint(envelope, keyring)).toEqual(b64(c.payloadBase64))
      }
    })

    it(`${file}: checks out against the reference implementations, independently of our code`, async () => {
      for (const c of fixture.checkpoints) {
        const raw = dagCbor.decode<Record<string, unknown>>(b64(c.envelopeBase64))
        const { sig, ciphertext, ...header } = raw as { sig: Uint8Array, ciphertext: Uint8Array, nonce: Uint8Array, stream: string, keyId: string }
        const id = CID.createV1(0x71, await multiformatsSha256.digest(dagCbor.encode({ ...header, ciphertext })))
        expect(id.toString()).toBe(c.id)
        const seed = hex(fixture.authors[c.author]?.seedHex ?? '')
        const message = new Uint8Array([...new TextEncoder().encode('idlemesh/checkpoint/v1\0'), ...id.bytes])
        expect(ed25519.verify(sig, message, ed25519.getPublicKey(seed))).toBe(true)
        const master = hex(fixture.keys.find((k) => k.id === header.keyId)?.keyHex ?? '')
        const key = hkdf(sha256, master, new TextEncoder().encode('idlemesh/checkpoint/v1/stream-key'), new TextEncoder().encode(header.stream), 32)
        expect(header.nonce).toEqual(hex(c.nonceHex))
        expect(xchacha20poly1305(key, header.nonce, dagCbor.encode(header)).decrypt(ciphertext)).toEqual(b64(c.payloadBase64))
      }
    })

    it(`${file}: the whole stream verifies and every node picks the same latest`, async () => {
      const store = new Map(fixture.checkpoints.map((c) => [c.id, b64(c.envelopeBase64)]))
      const heads = fixture.checkpoints.map((c) => ({ id: CID.parse(c.id), seq: c.seq }))
      expect(pickLatest(heads)?.id.toString()).toBe(fixture.latest)
      expect(pickLatest([...heads].reverse())?.id.toString()).toBe(fixture.latest)
      const report = await verifyChain([CID.parse(fixture.latest)], async (id) => store.get(id.toString()), { keyring })
      expect(report).toEqual({ ok: true, checked: fixture.checkpoints.length, problems: [] })
    })

    if (fixture.v === FORMAT_VERSION) {
      it(`${file}: sealing the same inputs today reproduces the bytes exactly`, () => {
        expect(buildFixtures()).toEqual(fixture)
      })
    }
  }
})
