import { describe, expect, it } from 'vitest'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { IdlemeshNode } from '../../src/node.ts'
import { EVENTS_TOPIC } from '../../src/events/index.ts'
import { decodeGossip } from '../../src/events/wire.ts'
import { initMesh, seesAllAlive, spawnNode, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { eventOn, githubDelivery, idOwnedBy, issuePayload, meshEventsConfig, postWebhook, runsOf, writeNodeConfig } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

/** Makes `node` ignore gossiped event records (claims and acks still pass); returns the undo. */
function dropGossipedRecords (node: IdlemeshNode): () => void {
  const validators = node.mesh.libp2p.services.pubsub.topicValidators
  const original = validators.get(EVENTS_TOPIC)
  if (original === undefined) throw new Error('no event validator to wrap')
  validators.set(EVENTS_TOPIC, async (peer, message) => {
    const decoded = decodeGossip(message.data)
    return decoded?.k === 'evs' ? TopicValidatorResult.Ignore : await original(peer, message)
  })
  return () => { validators.set(EVENTS_TOPIC, original) }
}

describe('ackReplicas', () => {
  const fixture = useTestFixture()

  it('with ackReplicas: 1, a node killed right after its 202 and never restarted loses nothing: the event is done once on the others', async () => {
    const runs = fixture.dirs.dir('runs.log')
    const config = meshEventsConfig(runs, { ackReplicas: 1 })
    const [dirA, dirB, dirC] = await initMesh(fixture.dirs, 3) as [string, string, string]
    const b = await startTestNode(dirB, config)
    const bootstrap = b.multiaddrs()[0] as string
    const c = await startTestNode(dirC, { ...config, bootstrap: [bootstrap] })
    fixture.nodes.push(b, c)
    // A claims, then waits 5 s before starting: it is certainly killed before it runs anything.
    writeNodeConfig(dirA, { ...config, events: { ...config.events, claimSettleMs: 5000 } })
    const a = await spawnNode(dirA, ['--bootstrap', bootstrap])
    fixture.procs.push(a)
    const ids = [a.runtime.peerId, b.peerId, c.peerId]
    await waitFor(() => seesAllAlive(b, ids) && seesAllAlive(c, ids), { what: 'B and C to see A alive' })
    await waitFor(async () => (await a.health()).summary.alive === 3, { what: 'A to see the mesh' })

    // B and C drop event records arriving by gossip for now: only the push that ackReplicas
    // makes can bring them the event before the 202.
    const restore = [b, c].map(n => dropGossipedRecords(n))

    // A owns the event: its death must hand the actions over, not just the data.
    const id = idOwnedBy(a.runtime.peerId, ids)
    const delivery = await githubDelivery('issues', issuePayload('replicated'), id)
    const answer = await postWebhook(a.runtime.httpUrl, '/webhook/gh', delivery)
    expect(answer).toEqual({ status: 202, body: { status: 'queued', event_id: id } })
    // The 202 promised a durable copy on another node: it is there before A is even killed.
    expect(b.events.store.has(`gh/${id}`) || c.events.store.has(`gh/${id}`)).toBe(true)
    await a.kill('SIGKILL')
    for (const undo of restore) undo()

    await waitFor(async () => {
      const views = await Promise.all([b, c].map(async n => await eventOn(n.httpUrl, id)))
      return views.every(v => v?.status === 'done')
    }, { timeoutMs: 30_000, what: 'the event done on B and C' })
    expect(runsOf(runs).filter(r => r.key === `gh/${id}`)).toHaveLength(1)
    for (const node of [b, c]) {
      await waitFor(async () => (await node.checkpoints.history('runs/replicated')).length > 0, { what: 'the checkpoint on every survivor' })
      expect(await node.checkpoints.history('runs/replicated')).toHaveLength(1)
    }
  })

  it('without enough peers the sender gets 503 WEBHOOK_REPLICAS_TIMEOUT, and a redelivery is a duplicate of the stored event', async () => {
    const [dir] = await initMesh(fixture.dirs, 1)
    const node = await startTestNode(dir as string, meshEventsConfig(fixture.dirs.dir('runs.log'), { ackReplicas: 1 }))
    fixture.nodes.push(node)
    const delivery = await githubDelivery('ping', { zen: 'alone' })
    const started = Date.now()
    const answer = await postWebhook(node.httpUrl, '/webhook/gh', delivery)
    expect(answer.status).toBe(503)
    expect(answer.body.error.code).toBe('WEBHOOK_REPLICAS_TIMEOUT')
    expect(answer.body.error.details).toMatchObject({ confirmed: 0, required: 1 })
    expect(Date.now() - started).toBeLessThan(5000)
    expect((await postWebhook(node.httpUrl, '/webhook/gh', delivery)).status).toBe(200)
    expect(node.events.store.has(`gh/${delivery.id}`)).toBe(true)
  })
})
