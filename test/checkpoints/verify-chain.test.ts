import { describe, it, expect } from 'vitest'
import type { CID } from 'multiformats/cid'
import { createKeyring } from '../../src/checkpoints/keyring.ts'
import type { Checkpoint } from '../../src/checkpoints/format.ts'
import { verifyChain } from '../../src/checkpoints/verify-chain.ts'
import type { ChainProblemReason } from '../../src/checkpoints/verify-chain.ts'
import { post, randomKeyring, randomSigner, tamper } from './format-helpers.ts'

const alice = randomSigner()
const bob = randomSigner()
const keyring = randomKeyring('k1')

type Name = 'root' | 'a' | 'b1' | 'b2' | 'merge' | 'tip'

/** root ← a ← (b1, b2) ← merge ← tip: a fork and a merge. */
function buildStream (): { store: Map<string, Uint8Array>, cps: Record<Name, Checkpoint> } {
  const root = post([], { keyring, signer: alice })
  const a = post([root], { keyring, signer: alice })
  const b1 = post([a], { keyring, signer: alice })
  const b2 = post([a], { keyring, signer: bob })
  const merge = post([b1, b2], { keyring, signer: bob })
  const tip = post([merge], { keyring, signer: alice })
  const cps = { root, a, b1, b2, merge, tip }
  return { store: new Map(Object.values(cps).map((cp) => [cp.id.toString(), cp.bytes])), cps }
}

function getter (store: Map<string, Uint8Array>, calls?: string[]) {
  return async (id: CID): Promise<Uint8Array | undefined> => {
    calls?.push(id.toString())
    return store.get(id.toString())
  }
}

function reasons (report: { problems: Array<{ reason: ChainProblemReason }> }): ChainProblemReason[] {
  return report.problems.map((p) => p.reason)
}

describe('verifyChain', () => {
  it('accepts a valid stream with a fork and a merge, fetching each envelope once', async () => {
    const { store, cps } = buildStream()
    const calls: string[] = []
    const report = await verifyChain([cps.tip.id], getter(store, calls), { keyring, isMember: (p) => p === alice.peerId || p === bob.peerId })
    expect(report).toEqual({ ok: true, checked: 6, problems: [] })
    expect(new Set(calls).size).toBe(calls.length)
  })

  it('accepts several heads that share history', async () => {
    const { store, cps } = buildStream()
    const report = await verifyChain([cps.b1.id, cps.b2.id, cps.tip.id], getter(store), { keyring })
    expect(report.ok).toBe(true)
    expect(report.checked).toBe(6)
  })

  it('finds a missing parent', async () => {
    const { store, cps } = buildStream()
    store.delete(cps.b2.id.toString())
    const report = await verifyChain([cps.tip.id], getter(store))
    expect(report.ok).toBe(false)
    expect(report.firstBroken).toMatchObject({ reason: 'missing_parent' })
    expect(report.firstBroken?.id.equals(cps.merge.id)).toBe(true)
    expect(report.firstBroken?.parent?.equals(cps.b2.id)).toBe(true)
  })

  it('finds a broken link: stored bytes that are not the id\'s', async () => {
    const { store, cps } = buildStream()
    store.set(cps.a.id.toString(), cps.b1.bytes)
    const report = await verifyChain([cps.tip.id], getter(store))
    expect(report.firstBroken).toMatchObject({ reason: 'id_mismatch' })
    expect(report.firstBroken?.id.equals(cps.a.id)).toBe(true)
  })

  it('finds a tampered envelope', async () => {
    const { store, cps } = buildStream()
    store.set(cps.b1.id.toString(), tamper(cps.b1.envelope, (e) => { e.time += 1 }))
    const report = await verifyChain([cps.tip.id], getter(store))
    expect(report.firstBroken).toMatchObject({ reason: 'id_mismatch' })
    expect(report.firstBroken?.id.equals(cps.b1.id)).toBe(true)
  })

  it('finds bytes that are not an envelope', async () => {
    const { store, cps } = buildStream()
    store.set(cps.root.id.toString(), new Uint8Array([1, 2, 3]))
    const report = await verifyChain([cps.tip.id], getter(store))
    expect(reasons(report)).toEqual(['malformed'])
    expect(report.firstBroken?.id.equals(cps.root.id)).toBe(true)
  })

  it('finds a bad signature (the id, which excludes sig, still matches)', async () => {
    const { store, cps } = buildStream()
    store.set(cps.b2.id.toString(), tamper(cps.b2.envelope, (e) => { e.sig[5] = (e.sig[5] as number) ^ 1 }))
    const report = await verifyChain([cps.tip.id], getter(store))
    expect(reasons(report)).toEqual(['bad_signature'])
    expect(report.firstBroken?.id.equals(cps.b2.id)).toBe(true)
    expect(report.checked).toBe(6)
  })

  it('finds a wrong seq', async () => {
    const { store, cps } = buildStream()
    // merge has seq 4; claiming 6 makes this one 7 instead of 5.
    expect(cps.merge.envelope.seq).toBe(4)
    const wrong = post([], { keyring, signer: alice, parents: [{ id: cps.merge.id, seq: 6 }] })
    store.set(wrong.id.toString(), wrong.bytes)
    const report = await verifyChain([wrong.id], getter(store))
    expect(reasons(report)).toEqual(['bad_seq'])
    expect(report.firstBroken?.id.equals(wrong.id)).toBe(true)
  })

  it('finds a payload that does not decrypt, a key it lacks, and a non-member', async () => {
    const { store, cps } = buildStream()
    const otherKey = createKeyring([{ id: 'k1', key: new Uint8Array(32).fill(3) }])
    const unknownKey = randomKeyring('k9')
    const sealedElsewhere = post([cps.tip], { keyring: otherKey, signer: alice })
    store.set(sealedElsewhere.id.toString(), sealedElsewhere.bytes)
    expect(reasons(await verifyChain([sealedElsewhere.id], getter(store), { keyring }))).toEqual(['decrypt_failed'])
    const withUnknownKey = post([cps.tip], { keyring: unknownKey, signer: alice })
    store.set(withUnknownKey.id.toString(), withUnknownKey.bytes)
    expect(reasons(await verifyChain([withUnknownKey.id], getter(store), { keyring }))).toEqual(['unknown_key'])
    const report = await verifyChain([cps.tip.id], getter(store), { isMember: (p) => p === alice.peerId })
    expect(reasons(report)).toEqual(['not_member', 'not_member'])
    expect(report.firstBroken?.id.equals(cps.b2.id) || report.firstBroken?.id.equals(cps.merge.id)).toBe(true)
  })

  it('finds a parent from another stream', async () => {
    const { store, cps } = buildStream()
    const foreign = post([], { keyring, signer: alice, stream: 'owner/other' })
    const child = post([cps.tip, foreign], { keyring, signer: alice })
    store.set(foreign.id.toString(), foreign.bytes)
    store.set(child.id.toString(), child.bytes)
    const report = await verifyChain([child.id], getter(store))
    expect(reasons(report)).toEqual(['wrong_stream'])
    expect(report.firstBroken?.parent?.equals(foreign.id)).toBe(true)
  })

  it('reports the problem earliest in history first', async () => {
    const { store, cps } = buildStream()
    store.set(cps.tip.id.toString(), tamper(cps.tip.envelope, (e) => { e.sig[0] = (e.sig[0] as number) ^ 1 }))
    store.set(cps.a.id.toString(), tamper(cps.a.envelope, (e) => { e.sig[0] = (e.sig[0] as number) ^ 1 }))
    store.delete(cps.b1.id.toString())
    const report = await verifyChain([cps.tip.id], getter(store))
    expect(reasons(report)).toEqual(['bad_signature', 'missing_parent', 'bad_signature'])
    expect(report.firstBroken?.id.equals(cps.a.id)).toBe(true)
    expect(report.problems[2]?.id.equals(cps.tip.id)).toBe(true)
    expect((await verifyChain([cps.tip.id], getter(store), { maxProblems: 1 })).problems).toHaveLength(1)
  })

  it('walks a long chain iteratively', async () => {
    const store = new Map<string, Uint8Array>()
    let tip = post([], { keyring, signer: alice })
    store.set(tip.id.toString(), tip.bytes)
    for (let i = 0; i < 3000; i++) {
      tip = post([tip], { keyring, signer: alice })
      store.set(tip.id.toString(), tip.bytes)
    }
    const report = await verifyChain([tip.id], getter(store))
    expect(report).toEqual({ ok: true, checked: 3001, problems: [] })
  })

  it('stops when aborted', async () => {
    const { store, cps } = buildStream()
    const controller = new AbortController()
    controller.abort()
    await expect(verifyChain([cps.tip.id], getter(store), { signal: controller.signal })).rejects.toThrow()
  })
})
