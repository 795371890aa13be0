import { describe, expect, it } from 'vitest'
import { IdlemeshError } from '../../src/errors.ts'
import { FAST_MEMBERSHIP, memberStates } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { countOf, heal, idsOf, localLatest, split, startMesh, text, type Three } from './mesh-helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

const REPLICA_TIMEOUT_MS = 1500

async function rejection (promise: Promise<unknown>): Promise<IdlemeshError & { details?: Record<string, unknown> }> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(IdlemeshError)
    return err as IdlemeshError & { details?: Record<string, unknown> }
  }
  throw new Error('expected the post to be refused')
}

describe('posts that ask for replicas', () => {
  const fixture = useTestFixture()

  it('with one of three nodes gone, replicas=1 is confirmed by the other and replicas=2 is refused up front (409) with nothing stored', async () => {
    const [a, b, c] = (await startMesh(fixture.dirs, 3, { checkpoints: { replicaTimeoutMs: REPLICA_TIMEOUT_MS } }, fixture.nodes)).nodes as Three
    await c.stop()
    await waitFor(() => memberStates(a)[c.peerId] === 'left', { what: 'A to see C leave' })

    const one = await a.checkpoints.post({ stream: 'safe', payload: text('one copy elsewhere'), replicas: 1 })
    expect(one.confirmedBy).toEqual([b.peerId])
    // Confirmed means durably held: B has it now, not eventually.
    expect(await idsOf(b, 'safe')).toEqual([one.id])

    const err = await rejection(a.checkpoints.post({ stream: 'safe', payload: text('two copies elsewhere'), replicas: 2 }))
    expect(err.code).toBe('REPLICAS_UNAVAILABLE')
    expect(err.status).toBe(409)
    expect(await countOf(a, 'safe')).toBe(1)
    expect(await localLatest(a, 'safe')).toBe(one.id)
    // Nothing was announced either: B still holds only the first after a settle period.
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(await countOf(b, 'safe')).toBe(1)
  })

  it('replicas=2 when one alive peer cannot confirm: 504 REPLICAS_TIMEOUT with { id, confirmed }, stored locally, and it reaches that peer once reachable', async () => {
    // Membership slow to suspect: C stays "alive" to A while it is cut off, so the post is
    // attempted (not refused with 409) and has to time out.
    const membership = { ...FAST_MEMBERSHIP, suspectAfterMs: 30_000, deadAfterMs: 60_000 }
    const [a, b, c] = (await startMesh(fixture.dirs, 3, { membership, checkpoints: { replicaTimeoutMs: REPLICA_TIMEOUT_MS } }, fixture.nodes)).nodes as Three
    await split([a, b], [c])
    expect(memberStates(a)[c.peerId]).toBe('alive')

    const started = Date.now()
    const err = await rejection(a.checkpoints.post({ stream: 'safe', payload: text('needs two copies'), replicas: 2 }))
    expect(Date.now() - started).toBeGreaterThanOrEqual(REPLICA_TIMEOUT_MS - 50)
    expect(err.code).toBe('REPLICAS_TIMEOUT')
    expect(err.status).toBe(504)
    const id = err.details?.id as string
    expect(err.details).toMatchObject({ id: expect.any(String), confirmed: 1, required: 2, confirmedBy: [b.peerId] })

    // The post itself is durable here and on B, and C does not have it yet.
    expect(await idsOf(a, 'safe')).toEqual([id])
    expect((await a.checkpoints.get(id)).checkpoint.seq).toBe(1)
    await waitFor(async () => (await idsOf(b, 'safe')).includes(id), { what: 'B to hold it' })
    expect(await countOf(c, 'safe')).toBe(0)

    heal([a, b], [c])
    await waitFor(async () => (await idsOf(c, 'safe')).includes(id), { timeoutMs: 20_000, what: 'C to get it once reachable' })
    expect(Buffer.from((await c.checkpoints.get(id)).payload).toString()).toBe('needs two copies')
  })
})
