import { describe, expect, it } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import { initMesh, seesAllAlive, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { eventOn, githubDelivery, issuePayload, meshEventsConfig, postWebhook, runsOf } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

describe('mesh-wide dedupe (3 nodes)', () => {
  const fixture = useTestFixture()

  it('the same delivery posted to two nodes at the same moment is one event everywhere, and its actions run once', async () => {
    const runs = fixture.dirs.dir('runs.log')
    const config = meshEventsConfig(runs)
    const dataDirs = await initMesh(fixture.dirs, 3)
    const first = await startTestNode(dataDirs[0] as string, config)
    fixture.nodes.push(first)
    const bootstrap = [first.multiaddrs()[0] as string]
    fixture.nodes.push(...await Promise.all(dataDirs.slice(1).map(async d => await startTestNode(d, { ...config, bootstrap }))))
    const ids = fixture.nodes.map(n => n.peerId)
    await waitFor(() => fixture.nodes.every(n => seesAllAlive(n, ids) && n.events.dispatcher.ready()), { what: 'all three alive and ready everywhere' })
    const [a, b, c] = fixture.nodes as [IdlemeshNode, IdlemeshNode, IdlemeshNode]

    const deliveries = await Promise.all(Array.from({ length: 6 }, async (_, i) => await githubDelivery('issues', issuePayload('dedupe', i + 1))))
    let bothQueued = 0
    for (const delivery of deliveries) {
      // Both nodes get the request in the same turn of this process's event loop: neither can
      // have heard of the other's copy when it answers.
      const answers = await Promise.all([postWebhook(a.httpUrl, '/webhook/gh', delivery), postWebhook(b.httpUrl, '/webhook/gh', delivery)])
      for (const answer of answers) {
        expect([200, 202]).toContain(answer.status)
        expect(answer.body.event_id).toBe(delivery.id)
      }
      if (answers.every(answer => answer.status === 202)) bothQueued++
    }
    // The race this test is about happened: both nodes stored a copy without knowing of the other.
    expect(bothQueued).toBeGreaterThan(0)

    for (const delivery of deliveries) {
      const views = await waitFor(async () => {
        const all = await Promise.all(fixture.nodes.map(async n => await eventOn(n.httpUrl, delivery.id)))
        return all.every(v => v?.status === 'done') ? all : undefined
      }, { timeoutMs: 20_000, what: `event ${delivery.id} done on every node` })
      // Copies merged to the same record: the same receipt, the same outcomes.
      const [first, ...rest] = views
      for (const view of rest) {
        expect(view?.event.receivedBy).toBe(first?.event.receivedBy)
        expect(view?.event.receivedAt).toBe(first?.event.receivedAt)
        expect(view?.actions).toEqual(first?.actions)
      }
    }

    // One command run and one checkpoint per delivery, mesh-wide.
    const lines = runsOf(runs)
    expect(lines.map(l => l.key).sort()).toEqual(deliveries.map(d => `gh/${d.id}`).sort())
    for (const node of fixture.nodes) {
      await waitFor(async () => (await node.checkpoints.history('runs/dedupe', { limit: 100 })).length >= deliveries.length, { what: 'the checkpoints on every node' })
      const history = await node.checkpoints.history('runs/dedupe', { limit: 100 })
      expect(history).toHaveLength(deliveries.length)
    }
    expect(c.events.store.size).toBe(deliveries.length)
    expect(a.events.store.size).toBe(deliveries.length)
  })
})
