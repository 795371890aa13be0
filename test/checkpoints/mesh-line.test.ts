import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/index.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { stopAll, tempDirs, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { checkpointMeshPeers, heal, holds, randomPayload, split, startMesh, text, type Three } from './mesh-helpers.ts'

/**
 * A line A – B – C: C has no connection to A (here A and C refuse each other; in a real mesh a
 * firewall, NAT or a partial heal does the same), and B relays. Periodic anti-entropy is off, so
 * what reaches C comes from gossip and from the pulls gossip triggers. Both pulls (the body of an
 * announced large checkpoint, and a parent C missed) must go to the neighbour that delivered the
 * message, B, not to its author A, which C cannot reach. B is configured with a smaller pull
 * chunk than A: C must check the chunks A announced whatever size B serves them in.
 */
describe('checkpoints across a relay (A – B – C, no A–C connection)', () => {
  let dirs: TempDirs
  let nodes: IdlemeshNode[] = []
  let a: IdlemeshNode
  let b: IdlemeshNode
  let c: IdlemeshNode

  beforeEach(async () => {
    dirs = tempDirs()
    const config = (i: number): ConfigInput => ({ checkpoints: { syncIntervalMs: 600_000, ...(i === 1 ? { chunkBytes: 256 * 1024 } : {}) } })
    ;[a, b, c] = (await startMesh(dirs, 3, config, nodes)).nodes as Three
    await split([a], [c], [b])
    await waitFor(() => checkpointMeshPeers(b).includes(a.peerId) && checkpointMeshPeers(b).includes(c.peerId), { what: 'B to relay between A and C' })
    // Control: a small checkpoint (inline gossip) crosses B at once.
    const small = await a.checkpoints.post({ stream: 'line', payload: text('inline') })
    await waitFor(async () => await holds(c, small.id), { what: 'an inline checkpoint to cross B' })
  })

  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    dirs.cleanup()
  })

  it('a large (announced, pulled) checkpoint reaches C through B without waiting for anti-entropy', async () => {
    // 3 MiB: three 1 MiB chunks as A announces them, twelve 256 KiB reads as B serves them.
    const big = await a.checkpoints.post({ stream: 'line', payload: randomPayload(3 * 1024 * 1024) })
    await waitFor(async () => await holds(b, big.id), { what: 'B to pull it from A' })
    await waitFor(async () => await holds(c, big.id), { timeoutMs: 10_000, what: 'C to pull it (from B, the only peer that can serve it)' })
    expect((await c.checkpoints.get(big.id)).payload.length).toBe(3 * 1024 * 1024)
    expect(c.replicator.rejected).toEqual({})
  })

  it('a checkpoint whose parent C missed is completed from B, the peer that delivered it', async () => {
    // C misses one checkpoint: cut off from B as well while it is posted, and with no catch-up
    // on reconnect (the replicator's on-connect and periodic sync are paused on C; its gossip
    // validation, which does the gap-fill, stays on).
    c.replicator.stop()
    await split([b], [c])
    const missed = await a.checkpoints.post({ stream: 'line', payload: text('missed by C') })
    const postedAt = Date.now()
    await waitFor(async () => await holds(b, missed.id), { what: 'B to get it' })
    // Gossipsub re-offers (IHAVE) messages of its last 3 heartbeats to peers that (re)join:
    // let that window pass, so C can only get the missed one by filling the gap.
    await waitFor(() => Date.now() - postedAt > 4000, { what: 'gossipsub\'s message cache to age out' })
    heal([b], [c])
    await waitFor(() => b.mesh.isConnected(c.peerId) && checkpointMeshPeers(b).includes(c.peerId), { timeoutMs: 20_000, what: 'B and C to reconnect' })
    expect(await holds(c, missed.id)).toBe(false)

    const child = await a.checkpoints.post({ stream: 'line', payload: text('child of the missed one') })
    expect(child.parents).toEqual([missed.id])
    await waitFor(async () => await holds(c, child.id), { timeoutMs: 10_000, what: 'C to fill the gap and store the child' })
    expect(await holds(c, missed.id)).toBe(true)
  })
})
