import type { ChainReport } from './verify-chain.ts'
import type { CheckpointMeta } from './format.ts'

/**
 * What the checkpoint service offers the HTTP routes and the composition root. Ids are CID
 * strings (base32 CIDv1) everywhere outside the format and store layers.
 */

/** A checkpoint's header as clients see it: everything but the ciphertext and signature. */
export interface CheckpointView {
  id: string
  stream: string
  seq: number
  parents: string[]
  author: string
  /** Author's wall clock, ms since the epoch; informational only. */
  time: number
  meta: CheckpointMeta
  keyId: string
  /** Encoded envelope size in bytes. */
  size: number
}

export interface PostInput {
  stream: string
  payload: Uint8Array
  meta?: CheckpointMeta
  /** Acknowledge only once this many other nodes confirmed a durable copy. @default 0 */
  replicas?: number
  signal?: AbortSignal
}

export interface PostResult extends CheckpointView {
  /** Peer IDs of the nodes that confirmed a durable copy (at least `replicas` of them). */
  confirmedBy: string[]
}

export interface LatestOptions {
  /** Answer from this node's store only, without asking peers. @default false */
  local?: boolean
  /** Bound on asking peers and the DHT, ms. @default config checkpoints.latestQueryTimeoutMs */
  timeoutMs?: number
}

export interface LatestResult {
  checkpoint: CheckpointView
  payload: Uint8Array
  /** True when at least one peer answered and none knew a later checkpoint than this one. */
  confirmed: boolean
  peersAsked: number
  peersAnswered: number
  /** Where the answer came from: this node's store, or fetched from a peer just now. */
  source: 'local' | 'peer'
}

export interface StreamSummary {
  stream: string
  count: number
  heads: number
  latest: { id: string, seq: number }
}

export interface HistoryOptions {
  limit?: number
  /** Only checkpoints with seq below this one. */
  beforeSeq?: number
}

export interface StreamAgreement {
  stream: string
  /** Latest as each member that answered reports it; null: it holds nothing of the stream. */
  byMember: Record<string, { id: string, seq: number } | null>
  /** Alive members that did not answer in time: their view is unknown. */
  unanswered: string[]
  /** True when every alive member answered and all report the same latest. */
  agree: boolean
}

export interface CheckpointHealth {
  streams: StreamAgreement[]
  /** Checkpoints this node knows exist but has not fetched yet. */
  syncBacklog: number
  rejected: Record<string, number>
  stored: number
}

export interface CheckpointService {
  post: (input: PostInput) => Promise<PostResult>
  /** Throws CHECKPOINT_NOT_FOUND (404) for an unknown or empty stream. */
  latest: (stream: string, options?: LatestOptions) => Promise<LatestResult>
  /** Throws CHECKPOINT_NOT_FOUND (404). */
  get: (id: string) => Promise<{ checkpoint: CheckpointView, payload: Uint8Array }>
  /** Newest first. */
  history: (stream: string, options?: HistoryOptions) => Promise<CheckpointView[]>
  streams: () => Promise<StreamSummary[]>
  /**
   * Walks the stream's DAG: ids from the bytes, signatures, links, seqs. The id and signature
   * already cover every ciphertext byte; `payloads` also decrypts each payload under the keyring.
   */
  verify: (stream: string, options?: { payloads?: boolean }) => Promise<ChainReport>
  health: () => Promise<CheckpointHealth>
}
