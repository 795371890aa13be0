/**
 * Writes the golden checkpoint fixtures: a small v1 stream with a fork, a merge and a key
 * rotation, sealed with fixed keys, nonces and times. Run once per format version:
 *
 *   node test/checkpoints/make-fixtures.ts
 *
 * Never regenerate an existing version's file: fixtures.test.ts proves that today's code still
 * reads what an older version wrote, and that only holds if the old bytes stay as they were.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ed25519 } from '@noble/curves/ed25519.js'
import { createSigner } from '../../src/checkpoints/crypto.ts'
import type { Signer } from '../../src/checkpoints/crypto.ts'
import { createKeyring } from '../../src/checkpoints/keyring.ts'
import type { Keyring } from '../../src/checkpoints/keyring.ts'
import { FORMAT_VERSION, pickLatest, sealCheckpoint } from '../../src/checkpoints/format.ts'
import type { Checkpoint, CheckpointMeta } from '../../src/checkpoints/format.ts'

export const FIXTURE_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'checkpoints', `v${FORMAT_VERSION}-stream.json`)

/** Bytes 0, 1, 2, … offset by `start`: fixed, recognisable, obviously not secret. */
function counting (start: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff)
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')

export function libp2pRawKey (seed: Uint8Array): Uint8Array {
  const raw = new Uint8Array(64)
  raw.set(seed)
  raw.set(ed25519.getPublicKey(seed), 32)
  return raw
}

interface Step {
  name: string
  parents: string[]
  author: 'alice' | 'bob'
  keyring: 'old' | 'rotated'
  payload: Uint8Array
  meta: CheckpointMeta
}

export function buildFixtures (): object {
  const seeds = { alice: counting(0x10, 32), bob: counting(0x30, 32) }
  const signers: Record<'alice' | 'bob', Signer> = {
    alice: createSigner(libp2pRawKey(seeds.alice)),
    bob: createSigner(libp2pRawKey(seeds.bob))
  }
  const keys = [{ id: 'k1', key: counting(0x80, 32) }, { id: 'k2', key: counting(0xa0, 32) }]
  const keyrings: Record<'old' | 'rotated', Keyring> = {
    old: createKeyring(keys.slice(0, 1)),
    rotated: createKeyring(keys)
  }
  const text = (s: string): Uint8Array => new TextEncoder().encode(s)
  const steps: Step[] = [
    { name: 'root', parents: [], author: 'alice', keyring: 'old', payload: text('first handoff: nothing done yet'), meta: { label: 'start', kind: 'handoff', size: 31, contentType: 'text/plain' } },
    { name: 'second', parents: ['root'], author: 'alice', keyring: 'old', payload: new Uint8Array(0), meta: {} },
    // Two nodes post on the same head at once: a fork. Bob already has the rotated key.
    { name: 'fork-a', parents: ['second'], author: 'alice', keyring: 'old', payload: counting(0, 4096), meta: { kind: 'blob', size: 4096, user: { branch: 'main', pr: '42' } } },
    { name: 'fork-b', parents: ['second'], author: 'bob', keyring: 'rotated', payload: text('{"pending":["tests"]}'), meta: { kind: 'handoff', contentType: 'application/json' } },
    { name: 'merge', parents: ['fork-a', 'fork-b'], author: 'bob', keyring: 'rotated', payload: text('merged: both forks seen'), meta: { label: 'merge' } }
  ]
  const sealed = new Map<string, Checkpoint>()
  const out = []
  for (const [i, step] of steps.entries()) {
    const parents = step.parents.map((name) => {
      const parent = sealed.get(name) as Checkpoint
      return { id: parent.id, seq: parent.envelope.seq }
    })
    const nonce = counting(0xc0 + i, 24)
    const time = 1_767_225_600_000 + i * 60_000 // 2026-01-01T00:00Z, one post a minute
    const cp = sealCheckpoint({ stream: 'acme/widgets', parents, payload: step.payload, meta: step.meta, time, nonce, keyring: keyrings[step.keyring], signer: signers[step.author] })
    sealed.set(step.name, cp)
    out.push({
      name: step.name,
      id: cp.id.toString(),
      parents: step.parents,
      seq: cp.envelope.seq,
      author: step.author,
      keyId: cp.envelope.keyId,
      time,
      nonceHex: hex(nonce),
      meta: step.meta,
      payloadBase64: b64(step.payload),
      envelopeBase64: b64(cp.bytes)
    })
  }
  const latest = pickLatest([...sealed.values()].map((cp) => ({ id: cp.id, seq: cp.envelope.seq })))
  return {
    v: FORMAT_VERSION,
    about: 'Golden checkpoint fixtures; see src/checkpoints/FORMAT.md. Generated once by test/checkpoints/make-fixtures.ts; never edit or regenerate.',
    stream: 'acme/widgets',
    keys: keys.map((k) => ({ id: k.id, keyHex: hex(k.key) })),
    authors: {
      alice: { seedHex: hex(seeds.alice), peerId: signers.alice.peerId },
      bob: { seedHex: hex(seeds.bob), peerId: signers.bob.peerId }
    },
    latest: latest?.id.toString(),
    checkpoints: out
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  mkdirSync(dirname(FIXTURE_FILE), { recursive: true })
  writeFileSync(FIXTURE_FILE, JSON.stringify(buildFixtures(), null, 2) + '\n', { flag: 'wx' })
  console.log(`wrote ${FIXTURE_FILE}`)
}
