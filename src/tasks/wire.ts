/**
 * What task nodes say to each other, DAG-CBOR encoded and checked on receipt: gossip batches of
 * records (topic TASK_TOPIC), and request/response frames on RPC_PROTOCOL (offer, lease
 * renewal, cancel, log read) and SYNC_PROTOCOL (anti-entropy). Every message carries `v`.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { z } from 'zod'
import { decodeWire, encodeWire } from '../wire/index.ts'
import { RECORD_VERSION, type TaskRecord } from './model.ts'
import { WIRE_VERSION } from './constants.ts'

const peer = z.string().min(1).max(128)
const time = z.number().int().min(0)
const text = (max: number): z.ZodString => z.string().max(max)
const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/)

const issueSchema = z.object({
  owner: text(100),
  repo: text(100),
  number: z.number().int().min(1),
  title: text(4096).optional(),
  body: text(512 * 1024).optional(),
  comments: z.array(z.object({ author: text(256), body: text(256 * 1024) })).max(500).optional()
})

const specSchema = z.object({
  prompt: text(1024 * 1024),
  createdAt: time,
  createdBy: peer,
  origin: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('direct') }),
    z.object({ kind: z.literal('event'), source: text(256), eventId: text(512), action: text(64) })
  ]),
  repo: text(2048).optional(),
  stream: text(256).optional(),
  conversation: text(512).optional(),
  issue: issueSchema.optional(),
  model: text(128).optional(),
  maxTurns: z.number().int().min(1).optional(),
  maxBudgetUsd: z.number().positive().optional()
})

const attemptSchema = z.object({
  n: z.number().int().min(1),
  node: peer,
  coord: peer,
  epoch: z.number().int().min(0),
  status: z.enum(['assigned', 'running', 'succeeded', 'failed', 'cancelled', 'lost']),
  offeredAt: time,
  startedAt: time.optional(),
  endedAt: time.optional(),
  code: text(64).optional(),
  reason: text(8192).optional(),
  exitCode: z.number().int().nullable().optional(),
  sessionId: text(128).optional(),
  resumed: text(128).optional(),
  fromCheckpoint: text(256).optional(),
  cwd: text(4096).optional(),
  result: text(256 * 1024).optional(),
  numTurns: z.number().int().min(0).optional(),
  durationMs: z.number().min(0).optional(),
  costUsd: z.number().min(0).optional(),
  modelUsage: z.record(z.string(), z.unknown()).optional(),
  subtype: text(128).optional(),
  rawOutput: text(64 * 1024).optional(),
  stderr: text(64 * 1024).optional(),
  publish: z.object({ ok: z.boolean(), output: text(64 * 1024).optional(), error: text(8192).optional() }).optional()
})

export const recordSchema = z.object({
  v: z.literal(RECORD_VERSION),
  id,
  spec: specSchema,
  coord: z.object({ peer, epoch: z.number().int().min(0), at: time }),
  attempts: z.array(attemptSchema).max(1000),
  cancel: z.object({ at: time, by: peer, reason: text(1024).optional() }).optional(),
  final: z.object({
    status: z.enum(['succeeded', 'failed', 'cancelled', 'dead']),
    at: time,
    by: peer,
    code: text(64).optional(),
    reason: text(8192).optional()
  }).optional()
})

const gossipSchema = z.object({ v: z.literal(WIRE_VERSION), k: z.literal('recs'), items: z.array(z.unknown()).max(10_000) })

export type RefusalReason = 'full' | 'draining' | 'budget' | 'stale' | 'conversation-busy' | 'stopping'

const offerRequest = z.object({ v: z.literal(WIRE_VERSION), k: z.literal('offer'), record: z.unknown(), n: z.number().int().min(1), epoch: z.number().int().min(0) })
const leaseRequest = z.object({ v: z.literal(WIRE_VERSION), k: z.literal('lease'), leases: z.array(z.object({ id, n: z.number().int().min(1) })).max(4096) })
const cancelRequest = z.object({ v: z.literal(WIRE_VERSION), k: z.literal('cancel'), id, reason: text(1024).optional() })
const logsRequest = z.object({ v: z.literal(WIRE_VERSION), k: z.literal('logs'), id, n: z.number().int().min(1), after: z.number().int().min(-1), waitMs: z.number().int().min(0).max(60_000) })
const rpcRequest = z.discriminatedUnion('k', [offerRequest, leaseRequest, cancelRequest, logsRequest])

export type RpcRequest = z.infer<typeof rpcRequest>
export type OfferRequest = z.infer<typeof offerRequest>
export type LeaseRequest = z.infer<typeof leaseRequest>
export type LogsRequest = z.infer<typeof logsRequest>

export interface LogLineRecord {
  seq: number
  at: number
  stream: 'stdout' | 'stderr'
  text: string
}

const logLineSchema = z.object({ seq: z.number().int().min(0), at: time, stream: z.enum(['stdout', 'stderr']), text: z.string() })

const offerResponse = z.object({ k: z.literal('offer'), ok: z.boolean(), reason: z.enum(['full', 'draining', 'budget', 'stale', 'conversation-busy', 'stopping']).optional(), detail: text(1024).optional() })
const leaseResponse = z.object({
  k: z.literal('lease'),
  results: z.array(z.object({ id, n: z.number().int().min(1), r: z.enum(['ok', 'revoked', 'redirect']), coord: peer.optional() }))
})
const cancelResponse = z.object({ k: z.literal('cancel'), ok: z.boolean() })
const logsResponse = z.object({ k: z.literal('logs'), lines: z.array(logLineSchema), done: z.boolean(), known: z.boolean() })
const errorResponse = z.object({ k: z.literal('error'), message: text(1024) })
const rpcResponse = z.discriminatedUnion('k', [offerResponse, leaseResponse, cancelResponse, logsResponse, errorResponse])

export type RpcResponse = z.infer<typeof rpcResponse>
export type OfferResponse = z.infer<typeof offerResponse>
export type LeaseResponse = z.infer<typeof leaseResponse>
export type LogsResponse = z.infer<typeof logsResponse>

const syncRequest = z.object({ v: z.literal(WIRE_VERSION), digests: z.record(z.string(), z.string()) })
const syncFrame = z.discriminatedUnion('k', [
  z.object({ k: z.literal('recs'), items: z.array(z.unknown()) }),
  z.object({ k: z.literal('end'), sent: z.number().int().min(0) })
])
export type SyncFrame = z.infer<typeof syncFrame>

export { encodeWire }

/** A record from the wire, or undefined when malformed. */
export function parseRecord (value: unknown): TaskRecord | undefined {
  const parsed = recordSchema.safeParse(value)
  if (!parsed.success) return undefined
  const record = parsed.data as TaskRecord
  // Attempts arrive sorted from honest peers; sorting costs little and keeps merges canonical.
  record.attempts.sort((a, b) => a.n - b.n)
  return record
}

export function decodeRecordBytes (bytes: Uint8Array): TaskRecord | undefined {
  try {
    return parseRecord(dagCbor.decode(bytes))
  } catch {
    return undefined
  }
}

export const decodeGossip = (bytes: Uint8Array): z.infer<typeof gossipSchema> | undefined => decodeWire(gossipSchema, bytes)
export const decodeRpcRequest = (bytes: Uint8Array): RpcRequest | undefined => decodeWire(rpcRequest, bytes)
export const decodeRpcResponse = (bytes: Uint8Array): RpcResponse | undefined => decodeWire(rpcResponse, bytes)
export const decodeSyncRequest = (bytes: Uint8Array): z.infer<typeof syncRequest> | undefined => decodeWire(syncRequest, bytes)
export const decodeSyncFrame = (bytes: Uint8Array): SyncFrame | undefined => decodeWire(syncFrame, bytes)
