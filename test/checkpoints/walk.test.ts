import { describe, expect, it } from 'vitest'
import { ancestorSample, missingFor } from '../../src/checkpoints/walk.ts'
import type { IndexEntry } from '../../src/checkpoints/store.ts'

/** A DAG by hand: id → parents; seq is computed as 1 + max(parent seq). */
function dag (edges: Record<string, string[]>): (id: string) => IndexEntry | undefined {
  const entries = new Map<string, IndexEntry>()
  const seqOf = (id: string): number => {
    const known = entries.get(id)
    if (known !== undefined) return known.seq
    const parents = edges[id] ?? []
    const entry = { stream: 's', seq: 1 + Math.max(0, ...parents.map(seqOf)), parents }
    entries.set(id, entry)
    return entry.seq
  }
  for (const id of Object.keys(edges)) seqOf(id)
  return (id) => entries.get(id)
}

describe('missingFor: what a peer lacks, parents first', () => {
  // a ← b ← c ← d, and a fork: b ← x ← y; m merges d and y.
  const entry = dag({ a: [], b: ['a'], c: ['b'], d: ['c'], x: ['b'], y: ['x'], m: ['d', 'y'] })

  it('sends everything to a peer that has nothing, in ascending seq', () => {
    const out = missingFor(['m'], [], entry)
    expect(out.sort()).toEqual(['a', 'b', 'c', 'd', 'm', 'x', 'y'])
    const seq = (id: string): number => entry(id)?.seq ?? 0
    const ordered = missingFor(['m'], [], entry)
    for (let i = 1; i < ordered.length; i++) expect(seq(ordered[i] as string)).toBeGreaterThanOrEqual(seq(ordered[i - 1] as string))
  })

  it('stops where the histories meet', () => {
    expect(missingFor(['d'], ['b'], entry)).toEqual(['c', 'd'])
    expect(missingFor(['m'], ['d'], entry).sort()).toEqual(['m', 'x', 'y'])
    expect(missingFor(['m'], ['y'], entry).sort()).toEqual(['c', 'd', 'm'])
    expect(missingFor(['m'], ['m'], entry)).toEqual([])
  })

  it('a peer head this node does not know does not hide anything it lacks', () => {
    expect(missingFor(['d'], ['unknown-to-me', 'b'], entry)).toEqual(['c', 'd'])
  })

  it('a peer with both fork branches gets only the merge', () => {
    expect(missingFor(['m'], ['d', 'y'], entry)).toEqual(['m'])
  })

  it('honours a limit', () => {
    expect(missingFor(['m'], [], entry, 3)).toHaveLength(3)
  })
})

describe('ancestorSample: where a peer that is behind finds common history', () => {
  // A chain c1 ← c2 ← … ← c10000.
  const edges: Record<string, string[]> = { c1: [] }
  for (let i = 2; i <= 10_000; i++) edges[`c${i}`] = [`c${i - 1}`]
  const entry = dag(edges)

  it('takes ancestors at distances 1, 2, 4, … up to the bound', () => {
    expect(ancestorSample('c10000', entry, 16)).toEqual(['c9999', 'c9998', 'c9996', 'c9992', 'c9984'])
    expect(ancestorSample('c3', entry)).toEqual(['c2', 'c1'])
    expect(ancestorSample('c1', entry)).toEqual([])
  })

  it('lets a peer 1,000 behind send back about the gap, not its whole history', () => {
    // The requester is at c10000; the server (which only knows up to c9000) answers with what it
    // thinks the requester lacks. With heads alone that is all 9,000 it holds.
    const serverKnows = (id: string): IndexEntry | undefined => Number(id.slice(1)) <= 9000 ? entry(id) : undefined
    expect(missingFor(['c9000'], ['c10000'], serverKnows)).toHaveLength(9000)
    const sent = missingFor(['c9000'], ['c10000', ...ancestorSample('c10000', entry)], serverKnows)
    expect(sent.length).toBeLessThanOrEqual(1000)
  })
})

