/**
 * Where a task should go: a pure function of what this node knows about each live member, so it
 * can be tested without a mesh and every node ranks alike from the same facts.
 */
import { createHash } from 'node:crypto'
import type { LoadReport } from '../membership/index.ts'

export interface Candidate {
  peerId: string
  load: LoadReport
  /**
   * Tasks this node believes run or are assigned there: the most of its gossiped load report
   * and the task records (which move faster than heartbeats), plus offers still in flight.
   */
  used: number
}

export interface Ranked {
  peerId: string
  /** used / capacity after this task. */
  ratio: number
  free: number
}

/**
 * Members with room, least loaded first: by the share of capacity in use, then by load average
 * per CPU, then by free memory, then by peer ID so ties break the same way everywhere. Members
 * that are draining, have no capacity or are full are left out.
 */
export function rankCandidates (candidates: Candidate[]): Ranked[] {
  const eligible = candidates.filter(c => !c.load.draining && c.load.capacity > 0 && c.used < c.load.capacity)
  const key = (c: Candidate): [number, number, number] => [
    c.used / c.load.capacity,
    c.load.load1 / Math.max(1, c.load.cpus),
    -(c.load.totalMemBytes > 0 ? c.load.freeMemBytes / c.load.totalMemBytes : 0)
  ]
  return eligible
    .map(c => ({ c, k: key(c) }))
    .sort((a, b) => {
      for (let i = 0; i < 3; i++) {
        const d = (a.k[i] as number) - (b.k[i] as number)
        // Load averages and free memory wobble: differences this small are not a preference.
        const epsilon = i === 0 ? 1e-9 : i === 1 ? 0.05 : 0.02
        if (Math.abs(d) > epsilon) return d
      }
      return a.c.peerId < b.c.peerId ? -1 : a.c.peerId > b.c.peerId ? 1 : 0
    })
    .map(({ c }) => ({ peerId: c.peerId, ratio: (c.used + 1) / c.load.capacity, free: c.load.capacity - c.used }))
}

/**
 * Rendezvous (highest-random-weight) hashing: which of `peers` is responsible for `key`. Every
 * node that sees the same set of peers picks the same one, and removing a peer moves only the
 * keys it had.
 */
export function rendezvous (key: string, peers: readonly string[]): string | undefined {
  let best: string | undefined
  let bestScore = ''
  for (const peer of peers) {
    const score = createHash('sha256').update(`${key}\n${peer}`).digest('hex')
    if (best === undefined || score > bestScore) {
      best = peer
      bestScore = score
    }
  }
  return best
}
