import { describe, expect, it } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import { renderHealth } from '../../src/cli/health.ts'
import type { HealthReport } from '../../src/health/index.ts'
import { initMesh, memberStates, seesAllAlive, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('mesh formation', () => {
  const fixture = useTestFixture()

  it('4 nodes that only know one bootstrap node form one mesh and all see all 4 alive', async () => {
    const dataDirs = await initMesh(fixture.dirs, 4)
    const first = await startTestNode(dataDirs[0] as string)
    fixture.nodes.push(first)
    const bootstrap = first.multiaddrs()[0] as string
    for (const dir of dataDirs.slice(1)) fixture.nodes.push(await startTestNode(dir, { bootstrap: [bootstrap] }))

    const ids = fixture.nodes.map(n => n.peerId)
    await waitFor(() => fixture.nodes.every(n => seesAllAlive(n, ids)), { what: 'every node to see all 4 alive' })

    // Membership travels by gossip, and the reconnect loop dials every member it learns of:
    // nodes 2..4 end up directly connected though they were only told about node 1.
    await waitFor(() => fixture.nodes.every(n => n.mesh.connectedPeers().length === 3), { what: 'a full mesh of direct connections' })

    const report = await fixture.nodes[3]?.health.report()
    expect(report?.summary).toMatchObject({ members: 4, alive: 4, allAlive: true })
    const other = report?.members.find(m => m.peerId === ids[1])
    expect(other?.load?.capacity).toBe(2)
    expect(other?.version).toBe(report?.node.version)
    expect(other?.httpUrl).toBe(fixture.nodes[1]?.httpUrl)
    expect(report?.dht.routingTableSize).toBeGreaterThan(0)

    // Round-trip times are measured as soon as a member joins, over a persistent echo stream.
    await waitFor(() => (fixture.nodes[3] as IdlemeshNode).membership.list().filter(m => !m.self).every(m => m.rttMs !== undefined), { what: 'RTTs to every member' })
    for (const m of (fixture.nodes[3] as IdlemeshNode).membership.list().filter(m => !m.self)) expect(m.rttMs).toBeLessThan(100)

    const metrics = await fixture.nodes[3]?.http.inject({ method: 'GET', url: '/metrics' })
    expect(metrics?.statusCode).toBe(200)
    expect(metrics?.body).toContain('idlemesh_members{state="alive"} 4')
    expect(metrics?.body).toContain('idlemesh_connected_peers 3')
    const health = await fixture.nodes[3]?.http.inject({ method: 'GET', url: '/health' })
    expect(health?.json().summary.alive).toBe(4)
    // What `idlemesh health` prints for people: the mesh, then every module's queues and counters.
    const table = renderHealth(health?.json() as HealthReport)
    expect(table).toMatch(/mesh: 4 members, 4 alive/)
    for (const section of [/^checkpoints: 0 stored/m, /^tasks: 0\/2 running here/m, /^events: 0 stored/m, /^webhooks: 0 accepted, 0 duplicates, rejected: none/m]) expect(table).toMatch(section)
  })

  it('a node that stops cleanly is marked left at once, not after the dead timeout', async () => {
    const dataDirs = await initMesh(fixture.dirs, 2)
    const a = await startTestNode(dataDirs[0] as string)
    const b = await startTestNode(dataDirs[1] as string, { bootstrap: [a.multiaddrs()[0] as string] })
    fixture.nodes.push(a, b)
    await waitFor(() => seesAllAlive(a, [a.peerId, b.peerId]), { what: 'a to see b alive' })
    expect(a.membership.peerIdsIn(['alive']).sort()).toEqual([a.peerId, b.peerId].sort())

    const stoppedAt = Date.now()
    await b.stop()
    await waitFor(() => memberStates(a)[b.peerId] === 'left', { what: 'a to mark b left' })
    // Well under the 1000 ms suspect timeout: the goodbye did it, not silence.
    expect(Date.now() - stoppedAt).toBeLessThan(900)
    expect(a.membership.peerIdsIn(['alive', 'suspect'])).toEqual([a.peerId])
    expect(a.membership.peerIdsIn(['left'])).toEqual([b.peerId])
  })
})
