import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import type { CheckpointHealth } from '../../src/checkpoints/index.ts'
import { memberStates, stopAll, tempDirs, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { CHECKPOINT_TOPIC, encodeWire } from '../../src/checkpoints/wire.ts'
import {
  checkpointMeshPeers, flipCiphertextByte, gossipScore, holds, idOfBytes, impostor, publishRaw, sealAs, signerOf, split, startMesh,
  tamperAndResign, text, type Three
} from './mesh-helpers.ts'

async function rejectedOnHealth (node: IdlemeshNode): Promise<Record<string, number>> {
  return ((await node.health.report()).checkpoints as CheckpointHealth).rejected
}

/** Long enough for a forwarded message to have reached and been judged by the far end. */
const SETTLE_MS = 1500

describe('forged and tampered checkpoints in gossip', () => {
  let dirs: TempDirs
  let nodes: IdlemeshNode[] = []
  let a: IdlemeshNode
  let b: IdlemeshNode
  let c: IdlemeshNode
  let dataDirs: string[]

  beforeEach(async () => {
    dirs = tempDirs()
    // No periodic anti-entropy during the test: whatever reaches C came by gossip through B.
    const mesh = await startMesh(dirs, 3, { checkpoints: { syncIntervalMs: 600_000 } }, nodes)
    dataDirs = mesh.dataDirs
    ;[a, b, c] = mesh.nodes as Three
    // A line A – B – C: A and C refuse each other, so B is the only way between them.
    await split([a], [c], [b])
    await waitFor(() => {
      const middle = checkpointMeshPeers(b)
      return middle.includes(a.peerId) && middle.includes(c.peerId) && checkpointMeshPeers(a).includes(b.peerId) && checkpointMeshPeers(c).includes(b.peerId)
    }, { what: 'B to have A and C in its checkpoint gossip mesh' })

    // Control: a valid envelope gossiped by one end reaches the other end, through B. (It is
    // authored by B and stored nowhere beforehand, so only B's forwarding can carry it.)
    for (const [from, to] of [[a, c], [c, a]] as const) {
      const valid = sealAs(dataDirs[1] as string, 'control', text(`via B from ${from.peerId}`))
      expect(await publishRaw(from, [valid.bytes])).toBeGreaterThan(0)
      await waitFor(async () => await holds(to, valid.id.toString()), { what: 'a valid envelope to cross B' })
    }
    expect(b.replicator.rejected).toEqual({})
  })

  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    dirs.cleanup()
  })

  it('an altered ciphertext (old signature) and a forged signature are rejected by B, counted, penalised and never forwarded', async () => {
    // A flips one ciphertext byte of its own envelope: the id (from the bytes) changes, so the
    // signature no longer matches it.
    const genuine = sealAs(dataDirs[0] as string, 'victim', text('the real payload'))
    const altered = flipCiphertextByte(genuine.bytes)
    // C forges an envelope that claims A as its author, signed with a key that is not A's.
    const forged = sealAs(dataDirs[2] as string, 'victim', text('words put in A\'s mouth'), [], impostor(a.peerId)).bytes
    expect(await publishRaw(a, [altered])).toBe(1)
    expect(await publishRaw(c, [forged])).toBe(1)

    await waitFor(() => b.replicator.rejected.CHECKPOINT_BAD_SIGNATURE === 2, { what: 'B to reject both' })
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    expect(b.replicator.rejected).toEqual({ CHECKPOINT_BAD_SIGNATURE: 2 })
    expect(await rejectedOnHealth(b)).toEqual({ CHECKPOINT_BAD_SIGNATURE: 2 })
    for (const id of [idOfBytes(altered), idOfBytes(forged), genuine.id.toString()]) {
      for (const node of [a, b, c]) expect(await holds(node, id)).toBe(false)
    }
    // Not forwarded: had B passed either on, the far end would have judged (and rejected) it.
    expect(a.replicator.rejected).toEqual({})
    expect(c.replicator.rejected).toEqual({})
    expect((await b.checkpoints.streams()).map(s => s.stream)).toEqual(['control'])
    // Gossipsub holds the rejections against both senders.
    expect(gossipScore(b, a.peerId)).toBeLessThan(0)
    expect(gossipScore(b, c.peerId)).toBeLessThan(0)
  })

  it('an envelope its author re-signed after altering the ciphertext fails decryption on B and goes no further', async () => {
    const genuine = sealAs(dataDirs[0] as string, 'victim', text('the real payload'))
    const resigned = tamperAndResign(genuine.bytes, signerOf(dataDirs[0] as string))
    expect(resigned.id).not.toBe(genuine.id.toString())
    expect(await publishRaw(a, [resigned.bytes])).toBe(1)

    await waitFor(() => b.replicator.rejected.CHECKPOINT_DECRYPT_FAILED === 1, { what: 'B to reject it' })
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    expect(b.replicator.rejected).toEqual({ CHECKPOINT_DECRYPT_FAILED: 1 })
    expect(await rejectedOnHealth(b)).toEqual({ CHECKPOINT_DECRYPT_FAILED: 1 })
    for (const node of [a, b, c]) expect(await holds(node, resigned.id)).toBe(false)
    expect(c.replicator.rejected).toEqual({})
    expect(await rejectedOnHealth(c)).toEqual({})
    expect(gossipScore(b, a.peerId)).toBeLessThan(0)
    expect(gossipScore(b, c.peerId)).toBeGreaterThanOrEqual(0)
  })

  it('an announcement whose chunk digests cannot describe its size is rejected by B without a pull, and not forwarded', async () => {
    const announcement = encodeWire({
      v: 1, k: 'ann', id: idOfBytes(sealAs(dataDirs[0] as string, 'victim', text('never sent')).bytes), stream: 'victim', seq: 1,
      size: 3 * 1024 * 1024, chunkSize: 1024 * 1024, chunks: [new Uint8Array(32), new Uint8Array(32)], ack: false
    })
    expect(await a.mesh.publish(CHECKPOINT_TOPIC, announcement)).toBe(1)

    await waitFor(() => b.replicator.rejected.CHECKPOINT_MALFORMED === 1, { what: 'B to reject it' })
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
    expect(b.replicator.rejected).toEqual({ CHECKPOINT_MALFORMED: 1 })
    expect(b.replicator.backlogSize).toBe(0)
    expect(c.replicator.rejected).toEqual({})
    expect(c.replicator.backlogSize).toBe(0)
    expect(gossipScore(b, a.peerId)).toBeLessThan(0)
  })

  // One rejected message costs its sender -10 (src/mesh/scoring.ts), above gossipsub's graylist
  // threshold (-80): an honest member with, say, a newer format version must not lose its
  // membership heartbeats and valid posts over one message the receiver cannot take.
  it('one rejected message does not cut its sender off: B still sees A alive and takes its next valid post by gossip', async () => {
    const altered = flipCiphertextByte(sealAs(dataDirs[0] as string, 'victim', text('the real payload')).bytes)
    expect(await publishRaw(a, [altered])).toBe(1)
    await waitFor(() => b.replicator.rejected.CHECKPOINT_BAD_SIGNATURE === 1, { what: 'B to reject it' })

    // Watch B's view of A for longer than deadAfterMs (2 s in tests).
    const seen = new Set<string>()
    const until = Date.now() + 3000
    while (Date.now() < until) {
      seen.add(memberStates(b)[a.peerId] ?? 'unknown')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    expect([...seen]).toEqual(['alive'])

    const next = await a.checkpoints.post({ stream: 'after', payload: text('a valid post') })
    await waitFor(async () => await holds(b, next.id), { timeoutMs: 3000, what: 'A\'s valid post to reach B by gossip' })
  })
})
