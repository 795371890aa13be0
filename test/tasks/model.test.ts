import { describe, expect, it } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { conversationStream, costReport, digestOf, eventTaskId, mergeRecords, rankCandidates, rendezvous, statusOf, type Attempt, type TaskRecord } from '../../src/tasks/index.ts'
import { parseSince } from '../../src/tasks/routes.ts'
import { parseRecord } from '../../src/tasks/wire.ts'
import type { LoadReport } from '../../src/membership/index.ts'

const base = (): TaskRecord => ({
  v: 1,
  id: 't1',
  spec: { prompt: 'p', createdAt: 1000, createdBy: 'A', origin: { kind: 'direct' } },
  coord: { peer: 'A', epoch: 0, at: 1000 },
  attempts: []
})

const attempt = (n: number, node: string, status: Attempt['status'], extra: Partial<Attempt> = {}): Attempt =>
  ({ n, node, coord: 'A', epoch: 0, status, offeredAt: 1000 + n, ...extra })

/** Copies of one task as different nodes may hold them after concurrent writes. */
function variants (): TaskRecord[] {
  const r = base()
  return [
    r,
    { ...r, attempts: [attempt(1, 'B', 'assigned')] },
    { ...r, attempts: [attempt(1, 'B', 'running', { startedAt: 1010, cwd: '/w' })] },
    { ...r, attempts: [attempt(1, 'B', 'succeeded', { endedAt: 1100, costUsd: 0.01, sessionId: 's' })], final: { status: 'succeeded', at: 1101, by: 'B' } },
    { ...r, attempts: [attempt(1, 'B', 'lost', { endedAt: 1090, code: 'TASK_LEASE_LAPSED' })] },
    { ...r, cancel: { at: 1050, by: 'C' } },
    { ...r, cancel: { at: 1040, by: 'D', reason: 'earlier' } },
    { ...r, coord: { peer: 'C', epoch: 1, at: 1200 } },
    { ...r, coord: { peer: 'B', epoch: 1, at: 1201 } },
    { ...r, attempts: [attempt(2, 'C', 'running', { epoch: 1, coord: 'C' })] },
    { ...r, attempts: [attempt(2, 'D', 'running', { epoch: 0, coord: 'A' })] },
    { ...r, final: { status: 'cancelled', at: 1102, by: 'C', code: 'TASK_CANCELLED' } }
  ]
}

describe('task records', () => {
  it('merge is commutative, associative and idempotent, whatever the order copies meet in', () => {
    const all = variants()
    for (const x of all) {
      expect(digestOf(mergeRecords(x, x))).toBe(digestOf(x))
      for (const y of all) {
        expect(digestOf(mergeRecords(x, y)), 'commutative').toBe(digestOf(mergeRecords(y, x)))
        for (const z of all) {
          expect(digestOf(mergeRecords(mergeRecords(x, y), z)), 'associative').toBe(digestOf(mergeRecords(x, mergeRecords(y, z))))
        }
      }
    }
    // Every permutation of every copy folds to one record.
    const folded = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const shuffled = [...all].sort(() => Math.random() - 0.5)
      folded.add(digestOf(shuffled.reduce((acc, r) => mergeRecords(acc, r))))
    }
    expect(folded.size).toBe(1)
  })

  it('keeps the runner\'s outcome over a declared loss, the newer coordinator, the earliest cancel, the fenced attempt', () => {
    const all = variants()
    const merged = all.reduce((acc, r) => mergeRecords(acc, r))
    expect(merged.attempts.find(a => a.n === 1)?.status).toBe('succeeded')
    expect(merged.attempts.find(a => a.n === 1)?.startedAt).toBe(1010)
    expect(merged.coord).toEqual({ peer: 'C', epoch: 1, at: 1200 })
    expect(merged.cancel).toEqual({ at: 1040, by: 'D', reason: 'earlier' })
    // Attempt 2 was offered twice in a takeover race: the one of the newer coordinator stands.
    expect(merged.attempts.find(a => a.n === 2)?.node).toBe('C')
    expect(merged.final?.status).toBe('succeeded')
    expect(statusOf(merged)).toBe('succeeded')
  })

  it('derives the status from the record', () => {
    expect(statusOf(base())).toBe('queued')
    expect(statusOf({ ...base(), attempts: [attempt(1, 'B', 'assigned')] })).toBe('assigned')
    expect(statusOf({ ...base(), attempts: [attempt(1, 'B', 'running')] })).toBe('running')
    expect(statusOf({ ...base(), attempts: [attempt(1, 'B', 'failed')] })).toBe('queued')
    expect(statusOf({ ...base(), cancel: { at: 1, by: 'A' } })).toBe('cancelled')
    expect(statusOf({ ...base(), final: { status: 'dead', at: 1, by: 'A' } })).toBe('dead')
  })

  it('round-trips through the wire schema, and rejects malformed records', () => {
    const merged = variants().reduce((acc, r) => mergeRecords(acc, r))
    const back = parseRecord(dagCbor.decode(dagCbor.encode(merged)))
    expect(back).toBeDefined()
    expect(digestOf(back as TaskRecord)).toBe(digestOf(merged))
    expect(parseRecord({ ...merged, id: '../etc' })).toBeUndefined()
    expect(parseRecord({ ...merged, attempts: [{ n: 0 }] })).toBeUndefined()
    expect(parseRecord('nonsense')).toBeUndefined()
  })

  it('names tasks and conversation streams deterministically', () => {
    expect(eventTaskId('gh', 'delivery-1', 0)).toBe(eventTaskId('gh', 'delivery-1', 0))
    expect(eventTaskId('gh', 'delivery-1', 0)).not.toBe(eventTaskId('gh', 'delivery-1', 1))
    expect(eventTaskId('gh', 'delivery-1', 0)).toMatch(/^ev-[0-9a-f]{24}$/)
    expect(conversationStream('acme/widgets#42')).toBe('conversation/acme/widgets/42')
    expect(conversationStream('chat with spaces')).toBe('conversation/chat_with_spaces')
    expect(conversationStream('../../x')).toBe('conversation/_/_/x')
    expect(conversationStream('x'.repeat(300))).toMatch(/^conversation\/h-[0-9a-f]{32}$/)
  })
})

const load = (over: Partial<LoadReport> = {}): LoadReport => ({ running: 0, capacity: 2, queued: 0, load1: 0.5, cpus: 2, freeMemBytes: 4e9, totalMemBytes: 8e9, draining: false, ...over })

describe('placement', () => {
  it('ranks by share of capacity in use, then load per CPU, then free memory, then peer ID', () => {
    const ranked = rankCandidates([
      { peerId: 'a', load: load({ capacity: 4 }), used: 2 }, // 0.5
      { peerId: 'b', load: load({ capacity: 2 }), used: 0 }, // 0, busy CPU
      { peerId: 'c', load: load({ capacity: 2, load1: 0.1 }), used: 0 }, // 0, idle CPU
      { peerId: 'd', load: load({ capacity: 1 }), used: 1 }, // full
      { peerId: 'e', load: load({ capacity: 3, draining: true }), used: 0 }, // draining
      { peerId: 'f', load: load({ capacity: 0 }), used: 0 }, // runs nothing
      { peerId: 'g', load: load({ capacity: 2, load1: 0.5, freeMemBytes: 7e9 }), used: 0 } // 0, same CPU as b, more memory
    ])
    expect(ranked.map(r => r.peerId)).toEqual(['c', 'g', 'b', 'a'])
    expect(rankCandidates([{ peerId: 'z', load: load(), used: 0 }, { peerId: 'y', load: load(), used: 0 }]).map(r => r.peerId)).toEqual(['y', 'z'])
  })

  it('rendezvous hashing agrees everywhere and moves only the removed peer\'s keys', () => {
    const peers = ['p1', 'p2', 'p3', 'p4']
    const before = new Map<string, string>()
    for (let i = 0; i < 200; i++) before.set(`task-${i}`, rendezvous(`task-${i}`, peers) as string)
    expect(new Set(before.values()).size).toBe(4)
    const after = peers.filter(p => p !== 'p2')
    for (const [key, owner] of before) {
      const now = rendezvous(key, [...after].reverse())
      if (owner !== 'p2') expect(now).toBe(owner)
      else expect(after).toContain(now)
    }
    expect(rendezvous('x', [])).toBeUndefined()
  })
})

describe('cost', () => {
  it('adds up attempts per node, repository, conversation and task, and filters by time', () => {
    const r1: TaskRecord = { ...base(), id: 'r1', spec: { ...base().spec, repo: 'https://github.com/acme/a.git', conversation: 'k' }, attempts: [attempt(1, 'B', 'failed', { costUsd: 0.1, endedAt: 2000 }), attempt(2, 'C', 'succeeded', { costUsd: 0.2, endedAt: 5000 })] }
    const r2: TaskRecord = { ...base(), id: 'r2', spec: { ...base().spec, stream: 'ops' }, attempts: [attempt(1, 'B', 'succeeded', { costUsd: 0.3, endedAt: 6000 })] }
    const r3: TaskRecord = { ...base(), id: 'r3', attempts: [attempt(1, 'B', 'lost')] }
    const byNode = costReport([r1, r2, r3], 'node')
    expect(byNode.totalUsd).toBeCloseTo(0.6, 9)
    expect(byNode.rows).toEqual([{ key: 'B', tasks: 2, attempts: 2, costUsd: 0.4 }, { key: 'C', tasks: 1, attempts: 1, costUsd: 0.2 }])
    expect(costReport([r1, r2], 'repo').rows.map(r => [r.key, r.costUsd])).toEqual([['acme/a', 0.3], ['ops', 0.3]])
    expect(costReport([r1, r2], 'conversation').rows.map(r => [r.key, r.costUsd])).toEqual([['(none)', 0.3], ['k', 0.3]])
    expect(costReport([r1, r2], 'task', 4000).totalUsd).toBeCloseTo(0.5, 9)
  })

  it('reads --since as epoch ms, an ISO date or a duration back from now', () => {
    expect(parseSince('1700000000000')).toBe(1_700_000_000_000)
    expect(parseSince('2024-01-02T00:00:00Z')).toBe(Date.UTC(2024, 0, 2))
    expect(parseSince('2h', 10_000_000)).toBe(10_000_000 - 7_200_000)
    expect(() => parseSince('yesterday-ish')).toThrow(/not a time/)
  })
})
