import { describe, expect, it } from 'vitest'
import { initMesh, spawnNode, FAST_MEMBERSHIP, type NodeProcess } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'

async function states (node: NodeProcess): Promise<Record<string, string>> {
  const report = await node.health()
  return Object.fromEntries(report.members.map(m => [m.peerId, m.state]))
}

describe('crash and restart (separate processes)', () => {
  const fixture = useTestFixture()

  it('SIGKILL: the others mark the node dead within the window; restarted on the same data dir it keeps its peer ID and is alive everywhere', async () => {
    const dataDirs = await initMesh(fixture.dirs, 3)
    const first = await spawnNode(dataDirs[0] as string)
    fixture.procs.push(first)
    const bootstrap = ['--bootstrap', first.runtime.multiaddrs[0] as string]
    for (const dir of dataDirs.slice(1)) fixture.procs.push(await spawnNode(dir, bootstrap))
    const ids = fixture.procs.map(p => p.runtime.peerId)
    const allAlive = async (): Promise<boolean> => {
      for (const p of fixture.procs) {
        const s = await states(p)
        if (!ids.every(id => s[id] === 'alive')) return false
      }
      return true
    }
    await waitFor(allAlive, { what: 'all three alive everywhere' })

    const victim = fixture.procs[2] as NodeProcess
    const survivors = fixture.procs.slice(0, 2)
    const killedAt = Date.now()
    await victim.kill('SIGKILL')
    await waitFor(async () => {
      for (const p of survivors) if ((await states(p))[victim.runtime.peerId] !== 'dead') return false
      return true
    }, { timeoutMs: FAST_MEMBERSHIP.deadAfterMs + 3000, intervalMs: 20, what: 'survivors to mark the killed node dead' })
    const detectedMs = Date.now() - killedAt
    // A crash closes the victim's sockets: its neighbours find nothing listening and declare it
    // dead well before silence alone would (deadAfterMs).
    const reasons = await Promise.all(survivors.map(async p => (await p.health()).members.find(m => m.peerId === victim.runtime.peerId)?.reason))
    expect(detectedMs, `detected after ${detectedMs} ms; reasons: ${reasons.join(" / ")}`).toBeLessThan(FAST_MEMBERSHIP.deadAfterMs)
    for (const p of survivors) {
      const seen = (await p.health()).members.find(m => m.peerId === victim.runtime.peerId)
      expect(seen?.reason).toMatch(/refused/)
    }
    // The survivors never doubted each other.
    for (const p of survivors) for (const q of survivors) expect((await states(p))[q.runtime.peerId]).toBe('alive')

    const restarted = await spawnNode(victim.dataDir, bootstrap)
    fixture.procs[2] = restarted
    expect(restarted.runtime.peerId).toBe(victim.runtime.peerId)
    expect(restarted.runtime.pid).not.toBe(victim.runtime.pid)
    await waitFor(allAlive, { timeoutMs: 20_000, what: 'the restarted node to be alive everywhere' })
  })

  it('SIGTERM stops a node within 5 s and removes runtime.json', async () => {
    const [dir] = await initMesh(fixture.dirs, 1)
    const node = await spawnNode(dir as string)
    const started = Date.now()
    const exit = new Promise<number | null>(resolve => node.child.once('exit', (code) => { resolve(code) }))
    node.child.kill('SIGTERM')
    expect(await exit).toBe(0)
    expect(Date.now() - started).toBeLessThan(5000)
    const { existsSync } = await import('node:fs')
    expect(existsSync(`${dir as string}/runtime.json`)).toBe(false)
  })
})
