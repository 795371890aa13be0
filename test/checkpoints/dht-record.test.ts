import { generateKeyPair } from '@libp2p/crypto/keys'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { createSigner } from '../../src/checkpoints/crypto.ts'
import { decodeHeadRecord, encodeHeadRecord, headRecordKey, headRecordSelector, headRecordValidator } from '../../src/checkpoints/dht-record.ts'

async function cid (text: string): Promise<CID> {
  return CID.createV1(0x71, await sha256.digest(new TextEncoder().encode(text)))
}

describe('kad-dht head records', () => {
  it('round-trips, is bound to its key, and rejects a forged signature', async () => {
    const signer = createSigner((await generateKeyPair('Ed25519')).raw)
    const value = encodeHeadRecord({ stream: 'team/x', id: await cid('a'), seq: 3 }, signer)
    const record = decodeHeadRecord(value, headRecordKey('team/x'))
    expect(record.seq).toBe(3)
    expect(record.publisher).toBe(signer.peerId)
    await expect(headRecordValidator(headRecordKey('team/x'), value)).resolves.toBeUndefined()
    await expect(headRecordValidator(headRecordKey('team/other'), value)).rejects.toThrow(/does not match its key/)

    const tampered = dagCbor.decode<Record<string, unknown>>(value)
    tampered.seq = 99
    await expect(headRecordValidator(headRecordKey('team/x'), dagCbor.encode(tampered))).rejects.toThrow(/signature/)
    const impostor = createSigner((await generateKeyPair('Ed25519')).raw)
    const stolen = dagCbor.decode<Record<string, unknown>>(encodeHeadRecord({ stream: 'team/x', id: await cid('a'), seq: 3 }, impostor))
    stolen.publisher = signer.peerId
    await expect(headRecordValidator(headRecordKey('team/x'), dagCbor.encode(stolen))).rejects.toThrow(/signature/)
  })

  it('the selector keeps the greatest (seq, id) and skips garbage', async () => {
    const signer = createSigner((await generateKeyPair('Ed25519')).raw)
    const low = encodeHeadRecord({ stream: 's', id: await cid('a'), seq: 2 }, signer)
    const high = encodeHeadRecord({ stream: 's', id: await cid('b'), seq: 5 }, signer)
    expect(headRecordSelector(headRecordKey('s'), [low, high])).toBe(1)
    expect(headRecordSelector(headRecordKey('s'), [high, low])).toBe(0)
    expect(headRecordSelector(headRecordKey('s'), [new Uint8Array([1, 2, 3]), low])).toBe(1)
  })
})
