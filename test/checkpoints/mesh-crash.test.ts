import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { initMesh, spawnNode } from '../helpers/nodes.ts'
import { randomPayload } from './mesh-helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

const STREAM = 'crash'
const WORKERS = 8

const digest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

async function json<T> (url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  expect(res.status, `${url}: ${res.status}`).toBe(200)
  return await res.json() as T
}

describe('checkpoint store after a crash (separate process, SIGKILL mid-load)', () => {
  const fixture = useTestFixture()

  it('every acknowledged post survives, and what is on disk is a whole, verifiable chain that takes the next post', async () => {
    const [dir] = await initMesh(fixture.dirs, 1) as [string]
    const first = await spawnNode(dir)
    fixture.procs.push(first)
    const base = first.runtime.httpUrl

    // Several clients post at once until the node is killed under them; only a 201 counts as
    // acknowledged (DESIGN §4: acknowledged only after the synced write).
    const acked = new Map<string, string>()
    let stop = false
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const payload = randomPayload(512 + ((w * 131 + i * 17) % 4096))
        let res: Response
        try {
          res = await fetch(`${base}/checkpoints?stream=${STREAM}`, {
            method: 'POST',
            headers: { 'content-type': 'application/octet-stream', 'x-checkpoint-label': `w${w}-${i}` },
            body: payload,
            signal: AbortSignal.timeout(10_000)
          })
        } catch {
          return // the node is gone
        }
        if (res.status !== 201) throw new Error(`post answered ${res.status}: ${await res.text()}`)
        const body = await res.json() as { id: string }
        acked.set(body.id, digest(payload))
      }
    }
    const workers = Array.from({ length: WORKERS }, async (_, w) => { await worker(w) })
    while (acked.size < 150) await new Promise(resolve => setTimeout(resolve, 10))
    await first.kill('SIGKILL')
    stop = true
    await Promise.all(workers)
    const ackedAtKill = acked.size
    expect(ackedAtKill).toBeGreaterThanOrEqual(150)

    const second = await spawnNode(dir)
    fixture.procs.push(second)
    const url = second.runtime.httpUrl

    const { streams } = await json<{ streams: Array<{ stream: string, count: number, heads: number, latest: { id: string, seq: number } }> }>(`${url}/streams`)
    const summary = streams.find(s => s.stream === STREAM)
    expect(summary).toBeDefined()
    const count = summary?.count as number
    // At least everything acknowledged; at most what was in flight besides.
    expect(count).toBeGreaterThanOrEqual(ackedAtKill)
    expect(count).toBeLessThanOrEqual(ackedAtKill + WORKERS)
    // One node posting in one stream builds one chain: one head, at seq = count.
    expect(summary?.heads).toBe(1)
    expect(summary?.latest.seq).toBe(count)

    const { checkpoints } = await json<{ checkpoints: Array<{ id: string, seq: number }> }>(`${url}/checkpoints?stream=${STREAM}&limit=1000`)
    expect(checkpoints).toHaveLength(count)
    expect(checkpoints.map(c => c.seq)).toEqual(Array.from({ length: count }, (_, i) => count - i))
    const stored = new Set(checkpoints.map(c => c.id))
    for (const [id, sum] of acked) {
      expect(stored.has(id), `acknowledged ${id} is missing after the crash`).toBe(true)
      const got = await fetch(`${url}/checkpoints/${id}`, { signal: AbortSignal.timeout(10_000) })
      expect(got.status).toBe(200)
      expect(digest(new Uint8Array(await got.arrayBuffer()))).toBe(sum)
    }

    const report = await json<{ ok: boolean, checked: number, problems: unknown[] }>(`${url}/checkpoints/verify?stream=${STREAM}`)
    expect(report).toMatchObject({ ok: true, checked: count, problems: [] })

    const next = await fetch(`${url}/checkpoints?stream=${STREAM}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'after the crash', signal: AbortSignal.timeout(10_000) })
    expect(next.status).toBe(201)
    const posted = await next.json() as { seq: number, parents: string[] }
    expect(posted).toMatchObject({ seq: count + 1, parents: [summary?.latest.id] })
  })
})
