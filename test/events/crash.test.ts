import { describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../src/config/index.ts'
import type { EventsHealth } from '../../src/events/index.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { initMesh, seesAllAlive, spawnNode, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { eventOn, githubDelivery, idOwnedBy, issuePayload, meshEventsConfig, postWebhook, runsOf, writeNodeConfig } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

/**
 * A node (its own OS process) accepts a webhook, answers 202, and is SIGKILLed at once. The
 * event must not be lost, must reach every node, and its actions must run exactly once.
 */
describe('a node killed right after its 202, then restarted', () => {
  const fixture = useTestFixture()

  /** Two in-process nodes B and C, and the data dir of the process node A. */
  async function mesh (config: ConfigInput): Promise<{ dirA: string, b: IdlemeshNode, c: IdlemeshNode, bootstrap: string[] }> {
    const [dirA, dirB, dirC] = await initMesh(fixture.dirs, 3) as [string, string, string]
    const b = await startTestNode(dirB, config)
    fixture.nodes.push(b)
    const bootstrap = [b.multiaddrs()[0] as string]
    const c = await startTestNode(dirC, { ...config, bootstrap })
    fixture.nodes.push(c)
    return { dirA, b, c, bootstrap }
  }

  const allAlive = (ns: IdlemeshNode[], ids: string[]): boolean => ns.every(n => seesAllAlive(n, ids))

  async function expectDoneOnceEverywhere (urls: string[], id: string, runs: string, stream: string, check: IdlemeshNode[]): Promise<void> {
    await waitFor(async () => {
      const views = await Promise.all(urls.map(async u => await eventOn(u, id).catch(() => undefined)))
      return views.every(v => v?.status === 'done')
    }, { timeoutMs: 30_000, what: `event ${id} done on every node` })
    expect(runsOf(runs).filter(r => r.key === `gh/${id}`)).toHaveLength(1)
    for (const node of check) {
      await waitFor(async () => (await node.checkpoints.history(stream)).length > 0, { what: 'the checkpoint to replicate' })
      expect(await node.checkpoints.history(stream)).toHaveLength(1)
    }
  }

  it('in the mesh, as the owner of the event: the survivors take its actions over and run them once; the restarted node agrees', async () => {
    const runs = fixture.dirs.dir('runs.log')
    const config = meshEventsConfig(runs)
    const { dirA, b, c, bootstrap } = await mesh(config)
    // A long settle between claim and start: A is certainly killed after claiming, before starting.
    writeNodeConfig(dirA, { ...config, events: { ...config.events, claimSettleMs: 5000 } })
    const a = await spawnNode(dirA, ['--bootstrap', bootstrap[0] as string])
    fixture.procs.push(a)
    const ids = [a.runtime.peerId, b.peerId, c.peerId]
    await waitFor(() => allAlive([b, c], ids), { what: 'B and C to see A alive' })
    await waitFor(async () => {
      const report = await a.health()
      return report.summary.alive === 3 && (report.events as EventsHealth).ready
    }, { what: 'A to see the mesh and be ready' })

    const id = idOwnedBy(a.runtime.peerId, ids)
    const delivery = await githubDelivery('issues', issuePayload('crash-owner'), id)
    const answer = await postWebhook(a.runtime.httpUrl, '/webhook/gh', delivery)
    expect(answer).toEqual({ status: 202, body: { status: 'queued', event_id: id } })
    await a.kill('SIGKILL')

    // The survivors finish it while A is down: the next member in rank took A's claim over.
    await expectDoneOnceEverywhere([b.httpUrl, c.httpUrl], id, runs, 'runs/crash-owner', [b, c])
    const ran = runsOf(runs).find(r => r.key === `gh/${id}`)
    expect([b.peerId, c.peerId]).toContain(ran?.peerId)
    // (Attempt 1 when A's claim reached the others before the kill and was taken over, 0 when not.)

    const restarted = await spawnNode(dirA, ['--bootstrap', bootstrap[0] as string])
    fixture.procs[0] = restarted
    await expectDoneOnceEverywhere([b.httpUrl, c.httpUrl, restarted.runtime.httpUrl], id, runs, 'runs/crash-owner', [b, c])
    const view = await eventOn(restarted.runtime.httpUrl, id)
    expect(view?.event.receivedBy).toBe(a.runtime.peerId)
    expect(view?.actions.every(x => x.state === 'succeeded')).toBe(true)
  })

  it('cut off from the mesh: the event survives on its disk alone and reaches the mesh by anti-entropy after the restart', async () => {
    const runs = fixture.dirs.dir('runs.log')
    const config = meshEventsConfig(runs)
    const { dirA, b, c, bootstrap } = await mesh(config)
    // Alone, A would own every event: it must not act before it is killed.
    writeNodeConfig(dirA, { ...config, events: { ...config.events, startupSettleMs: 60_000 } })
    const a = await spawnNode(dirA)
    fixture.procs.push(a)

    const id = idOwnedBy(b.peerId, [a.runtime.peerId, b.peerId, c.peerId])
    const delivery = await githubDelivery('issues', issuePayload('crash-alone'), id)
    expect((await postWebhook(a.runtime.httpUrl, '/webhook/gh', delivery)).status).toBe(202)
    await a.kill('SIGKILL')
    expect(b.events.store.has(`gh/${id}`)).toBe(false)

    writeNodeConfig(dirA, config)
    const restarted = await spawnNode(dirA, ['--bootstrap', bootstrap[0] as string])
    fixture.procs[0] = restarted
    await expectDoneOnceEverywhere([b.httpUrl, c.httpUrl, restarted.runtime.httpUrl], id, runs, 'runs/crash-alone', [b, c])
    // B owns it among the three: B ran it.
    expect(runsOf(runs).find(r => r.key === `gh/${id}`)?.peerId).toBe(b.peerId)
  })

  it('a command started by a node that is then killed is not run again: it ends unknown, and the next action still runs', async () => {
    const runs = fixture.dirs.dir('runs.log')
    const config = meshEventsConfig(runs, { commandSleepSeconds: 3 })
    const { dirA, b, c, bootstrap } = await mesh(config)
    writeNodeConfig(dirA, config)
    const a = await spawnNode(dirA, ['--bootstrap', bootstrap[0] as string])
    fixture.procs.push(a)
    const ids = [a.runtime.peerId, b.peerId, c.peerId]
    await waitFor(() => allAlive([b, c], ids), { what: 'B and C to see A alive' })
    await waitFor(async () => ((await a.health()).events as EventsHealth).ready, { what: 'A ready' })

    const id = idOwnedBy(a.runtime.peerId, ids)
    const delivery = await githubDelivery('issues', issuePayload('crash-started'), id)
    expect((await postWebhook(a.runtime.httpUrl, '/webhook/gh', delivery)).status).toBe(202)
    // A runs the (slow) command: the others hear it started, and the command has recorded its run.
    await waitFor(() => b.events.store.meta(`gh/${id}`)?.actions[0]?.state === 'started' && runsOf(runs).length === 1, { what: 'the command started on A' })
    await a.kill('SIGKILL')

    const view = await waitFor(async () => {
      const v = await eventOn(b.httpUrl, id)
      return v?.status === 'failed' && v.actions[1]?.state === 'succeeded' ? v : undefined
    }, { timeoutMs: 20_000, what: 'the command marked unknown and the checkpoint done' })
    expect(view.actions[0]).toMatchObject({ kind: 'command', state: 'unknown' })
    expect(view.actions[0]?.error).toMatch(/not run again/)
    expect([b.peerId, c.peerId]).toContain(view.actions[1]?.by)
    expect(runsOf(runs).filter(r => r.key === `gh/${id}`)).toHaveLength(1)
    expect(await c.checkpoints.history('runs/crash-started').then(h => h.length).catch(() => 0)).toBeLessThanOrEqual(1)
  })

  it('alone, a node restarted while its command ran marks it unknown instead of running it again', async () => {
    const runs = fixture.dirs.dir('runs.log')
    const config = meshEventsConfig(runs, { commandSleepSeconds: 3 })
    const [dir] = await initMesh(fixture.dirs, 1) as [string]
    writeNodeConfig(dir, config)
    const a = await spawnNode(dir)
    fixture.procs.push(a)
    await waitFor(async () => ((await a.health()).events as EventsHealth).ready, { what: 'A ready' })
    const delivery = await githubDelivery('issues', issuePayload('restart-started'))
    expect((await postWebhook(a.runtime.httpUrl, '/webhook/gh', delivery)).status).toBe(202)
    await waitFor(async () => (await eventOn(a.runtime.httpUrl, delivery.id))?.actions[0]?.state === 'started', { what: 'the command started' })
    await a.kill('SIGKILL')

    const restarted = await spawnNode(dir)
    fixture.procs[0] = restarted
    const view = await waitFor(async () => {
      const v = await eventOn(restarted.runtime.httpUrl, delivery.id)
      return v?.actions.every(x => x.state === 'succeeded' || x.state === 'unknown' || x.state === 'failed') === true ? v : undefined
    }, { timeoutMs: 20_000, what: 'the event finished after the restart' })
    expect(view.actions[0]).toMatchObject({ state: 'unknown', by: restarted.runtime.peerId })
    expect(view.actions[0]?.error).toMatch(/restarted while the command ran/)
    expect(view.actions[1]?.state).toBe('succeeded')
    expect(runsOf(runs)).toHaveLength(1)
  })
})
