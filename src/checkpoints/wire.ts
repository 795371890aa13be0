import { z } from 'zod'
import { decodeWire, encodeWire, wireBytes } from '../wire/index.ts'

/**
 * Checkpoint messages between nodes, all dag-cbor.
 *
 * Gossip topic CHECKPOINT_TOPIC (gossipsub authenticates the sender):
 *   batch     { v, k:'cps', items: envelope bytes[], ack: id[] }   small checkpoints, many per message
 *   announce  { v, k:'ann', id, stream, seq, size, chunkSize, chunks: sha256[], ack }  large ones: pull
 *   ack       { v, k:'ack', ids }   "I hold these durably", sent when a poster asked for replicas
 *
 * Direct protocol SYNC_PROTOCOL, one request, a stream of frames back:
 *   request   { v, have: { stream: head ids }, want?: ids, streams?: names }
 *   frames    { k:'batch', items: envelope bytes[] } for envelopes up to one chunk, many per frame;
 *             { k:'env', id, size, chunks } then `chunks` raw byte frames for larger ones;
 *             finally { k:'end', sent }
 * Direct protocol HEADS_PROTOCOL: request { v, streams?: names } → { v, heads: { stream: [[id, seq]] } }
 */
export const CHECKPOINT_TOPIC = 'idlemesh/checkpoints/1'
export const SYNC_PROTOCOL = '/idlemesh/checkpoints/sync/1.0.0'
export const HEADS_PROTOCOL = '/idlemesh/checkpoints/heads/1.0.0'
export const WIRE_VERSION = 1
/** Largest chunk a node sends on the pull path (the most `checkpoints.chunkBytes` may be). */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024

const id = z.string().min(1).max(128)
const bytes = wireBytes

const batchSchema = z.object({ v: z.literal(1), k: z.literal('cps'), items: z.array(bytes).min(1).max(4096), ack: z.array(id).max(4096) })
const announceSchema = z.object({
  v: z.literal(1),
  k: z.literal('ann'),
  id,
  stream: z.string().max(256),
  seq: z.number().int().min(1),
  size: z.number().int().min(1),
  chunkSize: z.number().int().min(1024),
  chunks: z.array(bytes).max(1 << 16),
  ack: z.boolean()
})
const ackSchema = z.object({ v: z.literal(1), k: z.literal('ack'), ids: z.array(id).min(1).max(4096) })
const gossipSchema = z.discriminatedUnion('k', [batchSchema, announceSchema, ackSchema])

export type GossipBatch = z.infer<typeof batchSchema>
export type GossipAnnounce = z.infer<typeof announceSchema>
export type GossipAck = z.infer<typeof ackSchema>
export type GossipMessage = z.infer<typeof gossipSchema>

const streamHeads = z.record(z.string().max(256), z.array(id).max(4096))

const syncRequestSchema = z.object({
  v: z.literal(1),
  have: streamHeads,
  want: z.array(id).max(4096).optional(),
  streams: z.array(z.string().max(256)).max(65536).optional()
})
export type SyncRequest = z.infer<typeof syncRequestSchema>

const frameSchema = z.discriminatedUnion('k', [
  z.object({ k: z.literal('batch'), items: z.array(bytes).min(1).max(4096) }),
  z.object({ k: z.literal('env'), id, size: z.number().int().min(1), chunks: z.number().int().min(1) }),
  z.object({ k: z.literal('end'), sent: z.number().int().min(0) })
])
export type SyncFrame = z.infer<typeof frameSchema>

const headsRequestSchema = z.object({ v: z.literal(1), streams: z.array(z.string().max(256)).max(65536).optional() })
export type HeadsRequest = z.infer<typeof headsRequestSchema>
const headsResponseSchema = z.object({ v: z.literal(1), heads: z.record(z.string().max(256), z.array(z.tuple([id, z.number().int().min(1)]))) })
export type HeadsResponse = z.infer<typeof headsResponseSchema>

export { encodeWire }

export const decodeGossip = (data: Uint8Array): GossipMessage | undefined => decodeWire(gossipSchema, data)
export const decodeSyncRequest = (data: Uint8Array): SyncRequest | undefined => decodeWire(syncRequestSchema, data)
export const decodeSyncFrame = (data: Uint8Array): SyncFrame | undefined => decodeWire(frameSchema, data)
export const decodeHeadsRequest = (data: Uint8Array): HeadsRequest | undefined => decodeWire(headsRequestSchema, data)
export const decodeHeadsResponse = (data: Uint8Array): HeadsResponse | undefined => decodeWire(headsResponseSchema, data)
