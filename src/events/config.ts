import { z } from 'zod'

/**
 * How events move between nodes and when actions run. Every field has a default; units are in
 * the names and repeated in the comments.
 */
export const eventsConfigSchema = z.strictObject({
  /** Anti-entropy with every connected peer this often (and on every new connection): 10 s. */
  syncIntervalMs: z.number().int().min(100).default(10_000),
  /** Bound on one sync or push exchange with a peer: 5 s. */
  requestTimeoutMs: z.number().int().min(100).default(5000),
  /**
   * How long a webhook with `ackReplicas: N` waits for N peers to confirm a durable copy before
   * the sender gets an error instead of its 202: 5 s, half of GitHub's 10-second budget.
   */
  ackTimeoutMs: z.number().int().min(50).max(9000).default(5000),
  /**
   * After start, a node runs no action and fires no cron job until this long has passed and it
   * has synced with every connected peer, so a node back from a crash learns what the mesh did
   * while it was away before it acts: 3 s.
   */
  startupSettleMs: z.number().int().min(0).default(3000),
  /**
   * A node configured with bootstrap peers acts only once it has synced with one of them (it
   * would otherwise act as a mesh of one and repeat what the others do); if it reaches none, it
   * acts alone after this long: 30 s.
   */
  aloneAfterMs: z.number().int().min(0).default(30_000),
  /**
   * Between claiming an action and starting it, the claim travels the mesh; a competing claim
   * (two nodes that briefly disagree on who owns the event) that arrives in this window is
   * settled before either starts: 50 ms.
   */
  claimSettleMs: z.number().int().min(0).max(10_000).default(50),
  /** Actions (of all events) running at once on this node. */
  maxConcurrentActions: z.number().int().min(1).max(1024).default(8),
  /**
   * Under load, events go out in at most one gossip message per this long (idle, at once).
   * Every message is signed, verified, decrypted and forwarded by each node: on a 3-node mesh
   * at ~1,300 deliveries/s, 20 ms (~30 events a message) took a peer's cost per event from
   * ~240 µs (5 ms) to ~170 µs. It adds at most this much to how long peers take to hear of an
   * event under load: 20 ms.
   */
  gossipBatchMs: z.number().int().min(0).max(1000).default(20),
  /** Events up to this size ride in gossip; larger ones are announced and pulled: 256 KiB. */
  inlineMaxBytes: z.number().int().min(1024).max(1024 * 1024).default(256 * 1024),
  /** Stdout kept of a `command` action: 1 MiB. */
  commandOutputMaxBytes: z.number().int().min(1024).default(1024 * 1024),
  /** How often cron jobs are checked for due fires: 1 s. */
  cronTickMs: z.number().int().min(50).max(60_000).default(1000),
  /** How often events older than webhooks.dedupeRetentionMs are dropped: 1 min. */
  pruneIntervalMs: z.number().int().min(1000).default(60_000)
})

export type EventsConfig = z.output<typeof eventsConfigSchema>
export type EventsConfigInput = z.input<typeof eventsConfigSchema>
