import { z } from 'zod'
import { decodeWire, encodeWire } from '../wire/index.ts'

/**
 * Membership messages on the gossip topic. Gossipsub (StrictSign) authenticates the sender, so a
 * message never names its own author: `from` is taken from the signature. `inc` (the sender's
 * start time) and `seq` order a member's messages across restarts: (inc, seq) only grows.
 */
export const MEMBERSHIP_TOPIC = 'idlemesh/membership/1'
/**
 * Most connections a heartbeat lists (~3.4 KB of peer IDs): a node with more lists some, and its
 * peers forward a bit more gossip to it than they need to.
 */
export const MAX_LINKS = 64

export interface LoadReport {
  /** Tasks running now. */
  running: number
  /** Tasks this node runs at once. */
  capacity: number
  /** Tasks waiting on this node. */
  queued: number
  /** 1-minute load average. */
  load1: number
  cpus: number
  freeMemBytes: number
  totalMemBytes: number
  draining: boolean
}

const loadSchema = z.object({
  running: z.number().int().min(0),
  capacity: z.number().int().min(0),
  queued: z.number().int().min(0),
  load1: z.number().min(0),
  cpus: z.number().int().min(1),
  freeMemBytes: z.number().min(0),
  totalMemBytes: z.number().min(0),
  draining: z.boolean()
})

const heartbeatSchema = z.object({
  v: z.literal(1),
  k: z.literal('hb'),
  inc: z.number().int().min(0),
  seq: z.number().int().min(0),
  addrs: z.array(z.string().max(512)).max(64),
  http: z.string().max(512).nullable(),
  ver: z.string().max(64),
  load: loadSchema,
  /** Peers the sender holds a direct connection to (see Membership.linked); absent from older nodes. */
  links: z.array(z.string().max(128)).max(MAX_LINKS).optional()
})

const byeSchema = z.object({ v: z.literal(1), k: z.literal('bye'), inc: z.number().int().min(0), seq: z.number().int().min(0) })

const deathSchema = z.object({
  v: z.literal(1),
  k: z.literal('dead'),
  peer: z.string().min(1).max(128),
  inc: z.number().int().min(0),
  seq: z.number().int().min(0),
  reason: z.string().max(200)
})

const messageSchema = z.discriminatedUnion('k', [heartbeatSchema, byeSchema, deathSchema])

export type Heartbeat = z.infer<typeof heartbeatSchema>
export type Goodbye = z.infer<typeof byeSchema>
/** "I saw `peer` die": a member that lost its connection and found nothing listening any more. */
export type DeathNotice = z.infer<typeof deathSchema>
export type MembershipMessage = z.infer<typeof messageSchema>

export function encodeMembershipMessage (message: MembershipMessage): Uint8Array {
  return encodeWire(message)
}

/** Returns undefined for anything that is not a well-formed membership message. */
export function decodeMembershipMessage (bytes: Uint8Array): MembershipMessage | undefined {
  return decodeWire(messageSchema, bytes)
}
