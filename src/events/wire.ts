import { constants as zlib, zstdCompressSync, zstdDecompressSync } from 'node:zlib'
import { z } from 'zod'
import { decodeWire, encodeWire, wireBytes } from '../wire/index.ts'

/**
 * Event messages between nodes: dag-cbor frames; a record inside is the JSON of
 * `{ base, actions }` (payloads are arbitrary JSON, which JSON carries as it is).
 *
 * Gossip topic EVENTS_TOPIC (gossipsub authenticates the sender):
 *   records   { v, k:'evs', items: record JSON[], ack: keys[] }  new or changed events, many per message
 *   actions   { v, k:'act', items: [key, action states JSON][] } action progress (claims, outcomes)
 *   announce  { v, k:'ann', keys }   events too large for gossip: pull them with SYNC_PROTOCOL
 *   ack       { v, k:'ack', keys }   "I hold these durably", for the receiver of `ack` keys
 *   zstd      { v, k:'z', z }        one of the above, dag-cbor then zstd: what encodeGossip makes of
 *                                    any message of COMPRESS_MIN_BYTES or more (batches under load)
 *
 * Direct protocol SYNC_PROTOCOL (anti-entropy and pulls), the asker speaks first:
 *   → { v, k:'dig', hours: [hour, digest][] }  XOR of version hashes per hour of receipt
 *   ← { k:'parts', items: [partition, digest][] }  the 10-s partitions of the hours that differ
 *   → { k:'pwant', parts }                 the partitions whose digests differ
 *   ← { k:'vers', items: [key, hash][], more } …  every record of those partitions, in frames of
 *                                        at most SYNC_CHUNK items; `more` until the last
 *   → { k:'want', keys, more } …         the same way (as a request of its own, for pulls by key,
 *                                        with `v` and at most SYNC_CHUNK keys)
 *   ← { k:'rec', r: record JSON } …, then { k:'end', sent }
 *
 * Direct protocol PUSH_PROTOCOL (for `ackReplicas`): → { v, k:'push', items: record JSON[] };
 *   ← { k:'ok', keys } once the receiver holds them on disk.
 */
export const EVENTS_TOPIC = 'idlemesh/events/1'
export const SYNC_PROTOCOL = '/idlemesh/events/sync/1.0.0'
export const PUSH_PROTOCOL = '/idlemesh/events/push/1.0.0'
export const WIRE_VERSION = 1
/** Items per versions or want frame: a few hundred KiB, far under the frame limits. */
export const SYNC_CHUNK = 4096

const key = z.string().min(3).max(1100)
const bytes = wireBytes

const recordsSchema = z.object({ v: z.literal(1), k: z.literal('evs'), items: z.array(bytes).min(1).max(4096), ack: z.array(key).max(4096) })
const actionsSchema = z.object({ v: z.literal(1), k: z.literal('act'), items: z.array(z.tuple([key, bytes])).min(1).max(4096) })
const announceSchema = z.object({ v: z.literal(1), k: z.literal('ann'), keys: z.array(key).min(1).max(4096) })
const ackSchema = z.object({ v: z.literal(1), k: z.literal('ack'), keys: z.array(key).min(1).max(4096) })
const gossipSchema = z.discriminatedUnion('k', [recordsSchema, actionsSchema, announceSchema, ackSchema])
const compressedSchema = z.object({ v: z.literal(1), k: z.literal('z'), z: bytes })
const envelopeSchema = z.discriminatedUnion('k', [recordsSchema, actionsSchema, announceSchema, ackSchema, compressedSchema])

/**
 * Gossip messages this large or larger travel compressed. A batch under webhook load is JSON
 * records of similar events (~140 KiB for 114 one-KiB bench webhooks; zstd level 1 made it
 * 3.2 KiB in ~1.2 µs an event, and unpacks it in ~1.9; real GitHub payloads pack ~10x or more).
 * Every byte of gossip is signed, copied through gossipsub, yamux, noise and pnet, and sent once
 * per peer: between servers, that is the mesh's network traffic under webhook load. On one
 * machine the CPU per delivery barely moved (3-node bench: receiver ~126 µs, peers ~48).
 */
export const COMPRESS_MIN_BYTES = 8 * 1024
/** The most a compressed message may unpack to: gossipsub's limit on a message as sent (4 MiB). */
const GOSSIP_MAX_BYTES = 4 * 1024 * 1024
const ZSTD_FAST = { params: { [zlib.ZSTD_c_compressionLevel]: 1 } }

export type GossipRecords = z.infer<typeof recordsSchema>
export type GossipActions = z.infer<typeof actionsSchema>
export type GossipMessage = z.infer<typeof gossipSchema>

const digest = bytes.refine(d => d.length === 8, 'an 8-byte digest')
const slot = z.number().int().min(0)
const requestSchema = z.discriminatedUnion('k', [
  z.object({ v: z.literal(1), k: z.literal('dig'), hours: z.array(z.tuple([slot, digest])).max(100_000) }),
  z.object({ v: z.literal(1), k: z.literal('want'), keys: z.array(key).max(SYNC_CHUNK), more: z.boolean().optional() })
])
export type SyncRequest = z.infer<typeof requestSchema>

const partsSchema = z.object({ k: z.literal('parts'), items: z.array(z.tuple([slot, digest])).max(10_000_000) })
const partWantSchema = z.object({ k: z.literal('pwant'), parts: z.array(slot).max(10_000_000) })
const versionsSchema = z.object({ k: z.literal('vers'), items: z.array(z.tuple([key, bytes])).max(SYNC_CHUNK), more: z.boolean() })
const wantSchema = z.object({ k: z.literal('want'), keys: z.array(key).max(SYNC_CHUNK), more: z.boolean() })
const frameSchema = z.discriminatedUnion('k', [
  z.object({ k: z.literal('rec'), r: bytes }),
  z.object({ k: z.literal('end'), sent: z.number().int().min(0) })
])
export type SyncFrame = z.infer<typeof frameSchema>

const pushSchema = z.object({ v: z.literal(1), k: z.literal('push'), items: z.array(bytes).min(1).max(4096) })
const pushReplySchema = z.object({ k: z.literal('ok'), keys: z.array(key).max(4096) })

export { encodeWire }

/** A gossip message as sent: compressed (k 'z') from COMPRESS_MIN_BYTES on. */
export function encodeGossip (message: GossipMessage): Uint8Array {
  const plain = encodeWire(message)
  if (plain.length < COMPRESS_MIN_BYTES) return plain
  return encodeWire({ v: WIRE_VERSION, k: 'z', z: zstdCompressSync(plain, ZSTD_FAST) })
}

/**
 * A gossip message as encodeGossip sent it, or undefined when it is not one: malformed, a
 * compressed one that is corrupt, unpacks past GOSSIP_MAX_BYTES or holds another compressed one.
 */
export function decodeGossip (data: Uint8Array): GossipMessage | undefined {
  const message = decodeWire(envelopeSchema, data)
  if (message?.k !== 'z') return message
  let plain: Buffer
  try {
    plain = zstdDecompressSync(message.z, { maxOutputLength: GOSSIP_MAX_BYTES })
  } catch {
    return undefined
  }
  return decodeWire(gossipSchema, plain)
}

export const decodeSyncRequest = (data: Uint8Array): SyncRequest | undefined => decodeWire(requestSchema, data)
export const decodeParts = (data: Uint8Array): z.infer<typeof partsSchema> | undefined => decodeWire(partsSchema, data)
export const decodePartWant = (data: Uint8Array): z.infer<typeof partWantSchema> | undefined => decodeWire(partWantSchema, data)
export const decodeVersions = (data: Uint8Array): z.infer<typeof versionsSchema> | undefined => decodeWire(versionsSchema, data)
export const decodeWant = (data: Uint8Array): z.infer<typeof wantSchema> | undefined => decodeWire(wantSchema, data)
export const decodeSyncFrame = (data: Uint8Array): SyncFrame | undefined => decodeWire(frameSchema, data)
export const decodePush = (data: Uint8Array): z.infer<typeof pushSchema> | undefined => decodeWire(pushSchema, data)
export const decodePushReply = (data: Uint8Array): z.infer<typeof pushReplySchema> | undefined => decodeWire(pushReplySchema, data)
