import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { createSigner } from '../../src/checkpoints/crypto.ts'
import type { Signer } from '../../src/checkpoints/crypto.ts'
import { createKeyring } from '../../src/checkpoints/keyring.ts'
import type { Keyring } from '../../src/checkpoints/keyring.ts'
import { sealCheckpoint } from '../../src/checkpoints/format.ts'
import type { Checkpoint, Envelope, SealInit } from '../../src/checkpoints/format.ts'
import { libp2pRawKey } from './make-fixtures.ts'

export function randomSigner (): Signer {
  return createSigner(libp2pRawKey(new Uint8Array(randomBytes(32))))
}

export function randomKeyring (...ids: string[]): Keyring {
  return createKeyring(ids.map((id) => ({ id, key: new Uint8Array(randomBytes(32)) })))
}

/** A post on `parents` (checkpoints, not heads), with defaults for everything else. */
export function post (parents: Checkpoint[], init: Partial<SealInit> & { keyring: Keyring, signer: Signer }): Checkpoint {
  return sealCheckpoint({
    stream: 'owner/repo',
    payload: new TextEncoder().encode('hello'),
    meta: { label: 'test' },
    ...init,
    parents: init.parents ?? parents.map((p) => ({ id: p.id, seq: p.envelope.seq }))
  })
}

/** Re-encodes an envelope after `change`, keeping its old signature: what a tamperer on the wire can do. */
export function tamper (envelope: Envelope, change: (e: Envelope) => void): Uint8Array {
  const copy: Envelope = { ...envelope, meta: { ...envelope.meta }, parents: [...envelope.parents], nonce: envelope.nonce.slice(), ciphertext: envelope.ciphertext.slice(), sig: envelope.sig.slice() }
  change(copy)
  return dagCbor.encode(copy)
}
