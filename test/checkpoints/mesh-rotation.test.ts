import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { addCheckpointKey } from '../../src/identity/index.ts'
import { initMesh, memberStates, seesAllAlive, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

describe('checkpoint key rotation across the mesh', () => {
  const fixture = useTestFixture()

  it('a node still without the new key ignores what it seals (no penalty), then catches up once it has the key', async () => {
    const [aDir, bDir] = await initMesh(fixture.dirs, 2) as [string, string]
    let a = await startTestNode(aDir)
    let b = await startTestNode(bDir, { bootstrap: [a.multiaddrs()[0] as string] })
    fixture.nodes = [a, b]
    await waitFor(() => seesAllAlive(b, [a.peerId, b.peerId]), { what: 'the mesh' })
    const old = await a.checkpoints.post({ stream: 'r', payload: new TextEncoder().encode('under the old key') })
    await waitFor(() => b.checkpointStore.has(old.id), { what: 'b to hold the old-key checkpoint' })

    // A rotates first and restarts; B still runs with the old secret.
    await a.stop()
    const { keyId } = addCheckpointKey(aDir)
    a = await startTestNode(aDir, { bootstrap: [b.multiaddrs()[0] as string] })
    fixture.nodes = [a, b]
    await waitFor(() => seesAllAlive(b, [a.peerId, b.peerId]), { what: 'a back in the mesh' })
    const fresh = await a.checkpoints.post({ stream: 'r', payload: new TextEncoder().encode('under the new key') })
    expect(fresh.keyId).toBe(keyId)
    expect(fresh.parents).toEqual([old.id])
    await waitFor(() => (b.replicator.rejected.CHECKPOINT_UNKNOWN_KEY ?? 0) > 0, { what: 'b to meet the unknown key' })
    expect(b.checkpointStore.has(fresh.id)).toBe(false)
    // Ignored, not rejected: A keeps its standing and its membership on B.
    const score = b.mesh.libp2p.services.pubsub as unknown as { getScore: (peer: string) => number }
    expect(score.getScore(a.peerId)).toBeGreaterThanOrEqual(0)
    expect(memberStates(b)[a.peerId]).toBe('alive')

    // B gets the new secret and restarts: it fetches the checkpoint by itself and opens both.
    await b.stop()
    copyFileSync(join(aDir, 'mesh.secret'), join(bDir, 'mesh.secret'))
    b = await startTestNode(bDir, { bootstrap: [a.multiaddrs()[0] as string] })
    fixture.nodes = [a, b]
    await waitFor(() => b.checkpointStore.has(fresh.id), { what: 'b to catch up the new-key checkpoint' })
    expect(text((await b.checkpoints.latest('r', { local: true })).payload)).toBe('under the new key')
    expect(text((await b.checkpoints.get(old.id)).payload)).toBe('under the old key')
    expect((await b.checkpoints.verify('r', { payloads: true })).ok).toBe(true)
  })
})
