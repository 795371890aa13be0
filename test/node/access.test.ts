import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import { initDataDir, loadIdentity } from '../../src/identity/index.ts'
import { initMesh, memberStates, seesAllAlive, startTestNode, stopAll, tempDirs, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'

/** Long enough for several dial attempts and heartbeats to have happened. */
const SETTLE_MS = 2500

describe('mesh access control', () => {
  let dirs: TempDirs
  let nodes: IdlemeshNode[] = []

  beforeEach(() => { dirs = tempDirs() })
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    dirs.cleanup()
  })

  it('a process with another mesh secret cannot complete a connection and never becomes a member', async () => {
    const [aDir, bDir] = await initMesh(dirs, 2)
    const strangerDir = dirs.dir('stranger')
    await initDataDir(strangerDir) // its own, different mesh secret

    const a = await startTestNode(aDir as string)
    const bootstrap = [a.multiaddrs()[0] as string]
    const b = await startTestNode(bDir as string, { bootstrap })
    const stranger = await startTestNode(strangerDir, { bootstrap })
    nodes.push(a, b, stranger)

    await waitFor(() => seesAllAlive(a, [a.peerId, b.peerId]), { what: 'a and b to form a mesh' })
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))

    expect(Object.keys(memberStates(a)).sort()).toEqual([a.peerId, b.peerId].sort())
    expect(Object.keys(memberStates(stranger))).toEqual([stranger.peerId])
    expect(a.mesh.connectedPeers()).not.toContain(stranger.peerId)
    expect(stranger.mesh.connectedPeers()).toEqual([])
  })

  it('a node with the secret but not on the allowlist is refused and never becomes a member', async () => {
    const [aDir, bDir, outsiderDir] = await initMesh(dirs, 3)
    const allowlist = [loadIdentity(aDir as string).peerId, loadIdentity(bDir as string).peerId]

    const a = await startTestNode(aDir as string, { allowlist })
    const b = await startTestNode(bDir as string, { allowlist, bootstrap: [a.multiaddrs()[0] as string] })
    const outsider = await startTestNode(outsiderDir as string, { bootstrap: [a.multiaddrs()[0] as string, b.multiaddrs()[0] as string] })
    nodes.push(a, b, outsider)

    await waitFor(() => seesAllAlive(a, allowlist) && seesAllAlive(b, allowlist), { what: 'a and b to see each other' })
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS))

    expect(Object.keys(memberStates(a)).sort()).toEqual([...allowlist].sort())
    expect(Object.keys(memberStates(b)).sort()).toEqual([...allowlist].sort())
    expect(Object.keys(memberStates(outsider))).toEqual([outsider.peerId])
    expect(a.mesh.connectedPeers()).not.toContain(outsider.peerId)
    expect(outsider.mesh.connectedPeers()).toEqual([])
  })
})
