import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import type { Signer } from './crypto.ts'
import { authorKey, utf8 } from './crypto.ts'
import { ed25519Verify } from './ed25519.ts'
import { compareHeads } from './format.ts'

/**
 * Each stream's head as a kad-dht record, so a node can learn the latest checkpoint held by peers
 * it is not connected to. Key: `/idlemesh-head/<stream>`. Value (dag-cbor):
 *   { v: 1, stream, id: CID, seq, publisher: peer ID, time, sig }
 * sig = Ed25519 by `publisher` over utf8('idlemesh/dht-head/v1\0') || dagCbor(value without sig).
 * The validator checks the signature and that the stream matches the key; the selector keeps the
 * greatest (seq, id), the same order as "latest".
 */
export const DHT_NAMESPACE = 'idlemesh-head'
const DOMAIN = utf8('idlemesh/dht-head/v1\0')

export interface HeadRecord {
  v: 1
  stream: string
  id: CID
  seq: number
  publisher: string
  time: number
  sig: Uint8Array
}

const recordSchema = z.object({
  v: z.literal(1),
  stream: z.string().min(1).max(256),
  id: z.instanceof(CID),
  seq: z.number().int().min(1),
  publisher: z.string().min(1).max(128),
  time: z.number().int().min(0),
  sig: z.custom<Uint8Array>(value => value instanceof Uint8Array, 'expected bytes')
})

export function headRecordKey (stream: string): Uint8Array {
  return utf8(`/${DHT_NAMESPACE}/${stream}`)
}

function signedBytes (record: Omit<HeadRecord, 'sig'>): Uint8Array {
  const body = dagCbor.encode({ v: record.v, stream: record.stream, id: record.id, seq: record.seq, publisher: record.publisher, time: record.time })
  const out = new Uint8Array(DOMAIN.length + body.length)
  out.set(DOMAIN)
  out.set(body, DOMAIN.length)
  return out
}

export function encodeHeadRecord (head: { stream: string, id: CID, seq: number }, signer: Signer, time = Date.now()): Uint8Array {
  const unsigned = { v: 1 as const, stream: head.stream, id: head.id, seq: head.seq, publisher: signer.peerId, time }
  return dagCbor.encode({ ...unsigned, sig: signer.sign(signedBytes(unsigned)) })
}

/** Throws on anything that is not a well-formed record, validly signed by its publisher, for `key`. */
export function decodeHeadRecord (value: Uint8Array, key?: Uint8Array): HeadRecord {
  const parsed = recordSchema.safeParse(dagCbor.decode(value))
  if (!parsed.success) throw new Error('not an idlemesh head record')
  const record = parsed.data
  if (key !== undefined && new TextDecoder().decode(key) !== `/${DHT_NAMESPACE}/${record.stream}`) throw new Error('head record does not match its key')
  if (!ed25519Verify(authorKey(record.publisher), signedBytes(record), record.sig)) throw new Error('head record signature is not valid')
  return record
}

export const headRecordValidator = async (key: Uint8Array, value: Uint8Array): Promise<void> => {
  decodeHeadRecord(value, key)
}

export const headRecordSelector = (_key: Uint8Array, records: Uint8Array[]): number => {
  let best = 0
  let bestRecord: HeadRecord | undefined
  records.forEach((value, i) => {
    try {
      const record = decodeHeadRecord(value)
      if (bestRecord === undefined || compareHeads(record, bestRecord) > 0) {
        best = i
        bestRecord = record
      }
    } catch {}
  })
  return best
}
