import { describe, expect, it } from 'vitest'
import { eventKey, ownerOf, type EventView } from '../../src/events/index.ts'
import { fireId } from '../../src/webhooks/index.ts'
import { initMesh, seesAllAlive, spawnNode, startTestNode } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { eventOn, meshEventsConfig, runsOf, writeNodeConfig } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

const JOB = 'tick'
const SECOND = 1000

/** Scheduled time of a fire, from its event key `cron/cron:<job>:<ISO time>`. */
function fireTime (key: string): number {
  return Date.parse(key.slice(`cron/cron:${JOB}:`.length))
}

describe('cron: once per mesh per scheduled time', () => {
  const fixture = useTestFixture()

  it('a per-second job fires every second exactly once with 3 nodes, and still after one of them is SIGKILLed', async () => {
    const runs = fixture.dirs.dir('runs.log')
    const config = meshEventsConfig(runs, {
      cron: { jobs: [{ name: JOB, schedule: '* * * * * *', graceMs: 5000, event: { type: 'cron.tick', payload: { repository: { name: 'cron' } } } }] }
    })
    const [dirA, dirB, dirC] = await initMesh(fixture.dirs, 3) as [string, string, string]
    const b = await startTestNode(dirB, config)
    const bootstrap = b.multiaddrs()[0] as string
    const c = await startTestNode(dirC, { ...config, bootstrap: [bootstrap] })
    fixture.nodes.push(b, c)
    writeNodeConfig(dirA, config)
    const a = await spawnNode(dirA, ['--bootstrap', bootstrap])
    fixture.procs.push(a)
    const A = a.runtime.peerId
    const all = [A, b.peerId, c.peerId]
    await waitFor(() => seesAllAlive(b, all) && seesAllAlive(c, all), { what: 'all three alive' })

    // Phase 1: all three fire their share (each time belongs to one member by rendezvous).
    const startedAt = Date.now()
    await waitFor(() => {
      const lines = runsOf(runs).filter(r => fireTime(r.key) > startedAt)
      return new Set(lines.map(l => l.peerId)).size === 3 && lines.length >= 4
    }, { timeoutMs: 20_000, what: 'fires run by each of the three nodes' })

    await a.kill('SIGKILL')
    const killedAt = Date.now()

    // Phase 2: fires go on; those A would have owned are fired and run by B or C.
    await waitFor(() => {
      const after = runsOf(runs).filter(r => fireTime(r.key) > killedAt + SECOND)
      const takenOver = after.filter(r => ownerOf(r.key, all) === A)
      return after.length >= 5 && takenOver.length >= 1
    }, { timeoutMs: 25_000, what: "fires after the kill, including A's share" })
    expect(runsOf(runs).filter(r => fireTime(r.key) > killedAt + SECOND).every(r => r.peerId !== A)).toBe(true)

    // Every second from the first fire to a few seconds ago: one event, its command run once.
    const lines = runsOf(runs)
    const times = lines.map(l => fireTime(l.key)).filter(t => t > startedAt)
    const first = Math.min(...times)
    const last = Date.now() - 3 * SECOND
    const perKey = new Map<string, number>()
    for (const line of lines) perKey.set(line.key, (perKey.get(line.key) ?? 0) + 1)
    let unknown = 0
    let checked = 0
    for (let t = first; t <= last; t += SECOND) {
      const id = fireId({ name: JOB }, t)
      const view = await waitFor(async () => {
        const v = await eventOn(b.httpUrl, id, 'cron')
        return v !== undefined && v.actions.every(x => x.state !== 'pending' && x.state !== 'claimed' && x.state !== 'started') ? v : undefined
      }, { timeoutMs: 15_000, what: `fire ${id} finished on B` }) as EventView
      const command = view.actions[0]
      const count = perKey.get(eventKey('cron', id)) ?? 0
      if (command?.state === 'unknown') {
        // Started by A and cut off by the kill: never run twice, maybe not once.
        unknown++
        expect(count).toBeLessThanOrEqual(1)
      } else {
        expect(command?.state, `fire ${id}`).toBe('succeeded')
        expect(count, `runs of fire ${id}`).toBe(1)
      }
      expect(await eventOn(c.httpUrl, id, 'cron')).toBeDefined()
      checked++
    }
    expect(unknown).toBeLessThanOrEqual(1)
    // The range spans the kill: fires before it and well after it.
    expect(first).toBeLessThan(killedAt)
    expect(last).toBeGreaterThan(killedAt + 2 * SECOND)
    expect(checked).toBeGreaterThanOrEqual(5)
    // No fire ran twice, whenever it was.
    const twice = [...perKey.entries()].filter(([, n]) => n !== 1)
    expect(twice, `ran twice: ${twice.map(([k]) => `${k} by ${lines.filter(l => l.key === k).map(l => l.peerId.slice(-6)).join(', ')}`).join('; ')} (started ${new Date(startedAt).toISOString()})`).toEqual([])
  })
})
