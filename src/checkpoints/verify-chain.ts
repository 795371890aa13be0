/**
 * Walks a stream's DAG from its heads back to its roots and checks every envelope once: what
 * `idlemesh checkpoint verify` reports. Iterative (an explicit stack), so a chain of any length
 * cannot overflow the call stack.
 */
import type { CID } from 'multiformats/cid'
import { isIdlemeshError } from '../errors.ts'
import { verifyAuthorSignature } from './crypto.ts'
import { compareBytes, decodeEnvelope, openCheckpoint } from './format.ts'
import type { Checkpoint } from './format.ts'
import type { Keyring } from './keyring.ts'

export type ChainProblemReason =
  | 'missing_parent'
  | 'malformed'
  | 'id_mismatch'
  | 'bad_signature'
  | 'not_member'
  | 'bad_seq'
  | 'wrong_stream'
  | 'unknown_key'
  | 'decrypt_failed'

export interface ChainProblem {
  /** The checkpoint that fails; for missing_parent and wrong_stream, the child of the bad link. */
  id: CID
  reason: ChainProblemReason
  detail: string
  /** missing_parent, wrong_stream: the parent the link points to. */
  parent?: CID
}

export interface ChainReport {
  ok: boolean
  /** Envelopes fetched and checked, each exactly once. */
  checked: number
  /** The problem earliest in history (lowest seq, then id bytes). */
  firstBroken?: ChainProblem
  /** Problems, earliest in history first, at most `maxProblems` of them. */
  problems: ChainProblem[]
}

export interface VerifyChainOptions {
  /** When given, every payload must also decrypt and authenticate. */
  keyring?: Keyring
  /** Mesh membership of an author; every author passes when absent. */
  isMember?: (peerId: string) => boolean
  signal?: AbortSignal
  /** @default 100 */
  maxProblems?: number
}

const MAX_PROBLEMS = 100

interface Visit {
  id: CID
  /**
   * read: decoded and its bytes hash to its id, so its fields (parents, seq, stream) are the
   * ones its id commits to, even if the signature is bad. missing / broken: nothing is known.
   */
  state: 'read' | 'missing' | 'broken'
  /** Position in history for ordering problems: seq when read, else an upper bound from children. */
  rank: number
  seq: number
  stream: string
  parents: CID[]
}

interface Found {
  problem: ChainProblem
  visit: Visit
}

/**
 * Checks everything reachable from `heads`: each envelope's bytes, id, signature, membership and
 * (with a keyring) payload, then every link's presence, stream and seq. It keeps going past a
 * problem wherever the parents are still known, so one report lists them all.
 */
export async function verifyChain (
  heads: readonly CID[],
  getEnvelope: (id: CID) => Promise<Uint8Array | undefined>,
  opts: VerifyChainOptions = {}
): Promise<ChainReport> {
  const visits = new Map<string, Visit>()
  const found: Found[] = []
  const stack: Array<{ id: CID, rank: number }> = heads.map((id) => ({ id, rank: Number.MAX_SAFE_INTEGER }))
  let checked = 0

  while (stack.length > 0) {
    opts.signal?.throwIfAborted()
    const { id, rank } = stack.pop() as { id: CID, rank: number }
    const key = keyOf(id)
    const seen = visits.get(key)
    if (seen !== undefined) {
      if (seen.state !== 'read' && rank < seen.rank) seen.rank = rank
      continue
    }
    const visit: Visit = { id, state: 'missing', rank, seq: 0, stream: '', parents: [] }
    visits.set(key, visit)
    const bytes = await getEnvelope(id)
    if (bytes === undefined) continue
    checked++
    visit.state = 'broken'

    let decoded: Checkpoint
    try {
      decoded = decodeEnvelope(bytes)
    } catch (err) {
      found.push({ visit, problem: { id, reason: 'malformed', detail: messageOf(err) } })
      continue
    }
    if (!decoded.id.equals(id)) {
      found.push({ visit, problem: { id, reason: 'id_mismatch', detail: `the stored bytes hash to ${String(decoded.id)}` } })
      continue
    }
    const envelope = decoded.envelope
    visit.state = 'read'
    visit.rank = envelope.seq
    visit.seq = envelope.seq
    visit.stream = envelope.stream
    visit.parents = envelope.parents

    if (opts.isMember !== undefined && !opts.isMember(envelope.author)) {
      found.push({ visit, problem: { id, reason: 'not_member', detail: `author ${envelope.author} is not a member of the mesh` } })
    }
    try {
      // decodeEnvelope computed the id from these bytes, so only the signature is left to check.
      verifyAuthorSignature(envelope.author, id, envelope.sig)
    } catch (err) {
      found.push({ visit, problem: { id, reason: 'bad_signature', detail: messageOf(err) } })
    }
    if (opts.keyring !== undefined) {
      try {
        openCheckpoint(envelope, opts.keyring)
      } catch (err) {
        const reason = isIdlemeshError(err) && err.code === 'CHECKPOINT_UNKNOWN_KEY' ? 'unknown_key' : 'decrypt_failed'
        found.push({ visit, problem: { id, reason, detail: messageOf(err) } })
      }
    }
    for (const parent of envelope.parents) stack.push({ id: parent, rank: envelope.seq - 1 })
  }

  // Links are checked once every envelope is in: a parent's seq is known only after its visit.
  for (const visit of visits.values()) {
    if (visit.state !== 'read') continue
    let max = 0
    let complete = true
    for (const parent of visit.parents) {
      const p = visits.get(keyOf(parent)) as Visit
      if (p.state === 'missing') {
        found.push({ visit, problem: { id: visit.id, parent, reason: 'missing_parent', detail: `parent ${String(parent)} is not stored` } })
        complete = false
      } else if (p.state === 'broken') {
        complete = false
      } else {
        if (p.stream !== visit.stream) {
          found.push({ visit, problem: { id: visit.id, parent, reason: 'wrong_stream', detail: `parent ${String(parent)} belongs to stream ${p.stream}, not ${visit.stream}` } })
        }
        if (p.seq > max) max = p.seq
      }
    }
    if (complete && visit.seq !== max + 1) {
      found.push({ visit, problem: { id: visit.id, reason: 'bad_seq', detail: `seq is ${visit.seq}, expected ${max + 1}` } })
    }
  }

  found.sort((a, b) => a.visit.rank - b.visit.rank || compareBytes(a.visit.id.bytes, b.visit.id.bytes))
  const problems = found.slice(0, opts.maxProblems ?? MAX_PROBLEMS).map((f) => f.problem)
  const report: ChainReport = { ok: found.length === 0, checked, problems }
  if (problems[0] !== undefined) report.firstBroken = problems[0]
  return report
}

// CID#toString base32-encodes a fresh CID at ~15 µs, as much as the rest of a check; a binary
// string of the bytes is an equally unique map key at a fraction of the cost.
function keyOf (id: CID): string {
  return Buffer.from(id.bytes.buffer, id.bytes.byteOffset, id.bytes.byteLength).toString('latin1')
}

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
