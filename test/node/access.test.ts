import { describe, expect, it } from 'vitest'
import { initDataDir, loadIdentity } from '../../src/identity/index.ts'
import { initMesh, memberStates, seesAllAlive, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'

/** Long enough for several dial attempts and heartbeats to have happened. */
const SETTLE_MS = 2500

describe('mesh access control', () => {
  const fixture = useTestFixture()

  it('a process with another mesh secret cannot complete a connection and never becomes a member', async () => {
    const [aDir, bDir] = await initMesh(fixture.dirs, 2)
    const strangerDir = fixture.dirs.dir('stranger')
    await initDataDir(strangerDir) // its own, different mesh secret

    const a = await startTestNode(aDir as string)
    const bootstrap = [a.multiaddrs()[0] as string]
    const b = await startTestNode(bDir as string, { bootstrap })
    const stranger = await startTestNode(strangerDir, { bootstrap })
    fixture.nodes.push(a, b, stranger)

    await waitFor(() => seesAllAlive(a, [a.peerId, b.peerId]), { what: 'a and b to form a mesh' })
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))

    expect(Object.keys(memberStates(a)).sort()).toEqual([a.peerId, b.peerId].sort())
    expect(Object.keys(memberStates(stranger))).toEqual([stranger.peerId])
    expect(a.mesh.connectedPeers()).not.toContain(stranger.peerId)
    expect(stranger.mesh.connectedPeers()).toEqual([])
  })

  it('a node with the secret but not on the allowlist is refused and never becomes a member', async () => {
    const [aDir, bDir, outsiderDir] = await initMesh(fixture.dirs, 3)
    const allowlist = [loadIdentity(aDir as string).peerId, loadIdentity(bDir as string).peerId]

    const a = await startTestNode(aDir as string, { allowlist })
    const b = await startTestNode(bDir as string, { allowlist, bootstrap: [a.multiaddrs()[0] as string] })
    const outsider = await startTestNode(outsiderDir as string, { bootstrap: [a.multiaddrs()[0] as string, b.multiaddrs()[0] as string] })
    fixture.nodes.push(a, b, outsider)

    await waitFor(() => seesAllAlive(a, allowlist) && seesAllAlive(b, allowlist), { what: 'a and b to see each other' })
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))

    expect(Object.keys(memberStates(a)).sort()).toEqual([...allowlist].sort())
    expect(Object.keys(memberStates(b)).sort()).toEqual([...allowlist].sort())
    expect(Object.keys(memberStates(outsider))).toEqual([outsider.peerId])
    expect(a.mesh.connectedPeers()).not.toContain(outsider.peerId)
    // The outsider holds the secret, so its redials complete the handshake and its side counts
    // the connection open until the refusal closes it a moment later: no connection may last.
    await waitFor(() => outsider.mesh.connectedPeers().length === 0, { timeoutMs: 2000, what: "the outsider's connections to be closed" })
  })
})
