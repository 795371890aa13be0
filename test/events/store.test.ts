import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { EventRecord } from '../../src/events/index.ts'
import { EventStore } from '../../src/events/store.ts'
import { silentLogger } from '../../src/logger.ts'
import { openStore, sublevel, type Store } from '../../src/store/index.ts'
import { tempDirs, type TempDirs } from '../helpers/nodes.ts'

const DAY = 24 * 3600 * 1000
const PEER_A = '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const PEER_B = '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'

function record (id: string, receivedAt: number, receivedBy = PEER_A): EventRecord {
  return {
    base: {
      v: 1,
      source: 'gh',
      id,
      receivedAt,
      receivedBy,
      event: { provider: 'github', type: 'issues.opened', summary: id },
      payload: { id },
      decision: { rule: 'r', actions: [{ kind: 'command', argv: ['/bin/true'], timeoutMs: 1000 }] }
    },
    actions: [{ state: 'pending', gen: 0 }]
  }
}

describe('event store', () => {
  let dirs: TempDirs
  let db: Store
  let now = Date.parse('2025-06-01T12:00:00Z')
  const open = async (): Promise<EventStore> => {
    const store = new EventStore(sublevel(db, 'ev'), silentLogger(), { retentionMs: 7 * DAY, now: () => now })
    await store.open()
    return store
  }

  beforeEach(async () => {
    dirs = tempDirs()
    db = await openStore(join(dirs.root, 'db'))
  })
  afterEach(async () => {
    await db.close()
    dirs.cleanup()
  })

  it('keeps events, their action states and their order across a reopen', async () => {
    const store = await open()
    await store.merge('gh/one', record('one', now - 2000)).durable
    await store.merge('gh/two', record('two', now - 1000)).durable
    await store.mergeActions('gh/one', [{ state: 'succeeded', gen: 0, by: PEER_A, finishedAt: now }]).durable
    const digests = JSON.stringify(store.hourDigestList())
    await store.close()

    const again = await open()
    expect(again.size).toBe(2)
    expect(again.meta('gh/one')?.actions[0]?.state).toBe('succeeded')
    expect((await again.getRecord('gh/two'))?.base.payload).toEqual({ id: 'two' })
    expect((await again.listKeys({ limit: 10 })).keys).toEqual(['gh/two', 'gh/one'])
    expect(JSON.stringify(again.hourDigestList())).toBe(digests)
  })

  it('keeps the earliest receipt of an event received twice, and merges the action states', async () => {
    const store = await open()
    store.merge('gh/x', record('x', now, PEER_B))
    store.mergeActions('gh/x', [{ state: 'claimed', gen: 0, by: PEER_B, run: 'r' }])
    const earlier = record('x', now - 5, PEER_A)
    expect(store.merge('gh/x', earlier).outcome).toBe('changed')
    expect(store.meta('gh/x')).toMatchObject({ receivedBy: PEER_A, receivedAt: now - 5 })
    expect(store.meta('gh/x')?.actions[0]).toMatchObject({ state: 'claimed', by: PEER_B })
    // The later copy arriving again changes nothing.
    expect(store.merge('gh/x', record('x', now, PEER_B)).outcome).toBe('same')
    await store.flush()
    expect((await store.listKeys({ limit: 10 })).keys).toEqual(['gh/x'])
  })

  it('forgets events older than the retention, and refuses copies that old', async () => {
    const store = await open()
    await store.merge('gh/old', record('old', now)).durable
    await store.merge('gh/new', record('new', now + 6 * DAY)).durable
    now += 7 * DAY + 1000
    expect(await store.prune()).toBe(1)
    expect(store.has('gh/old')).toBe(false)
    expect(store.has('gh/new')).toBe(true)
    expect(store.merge('gh/old', record('old', now - 8 * DAY)).outcome).toBe('expired')
    expect(store.has('gh/old')).toBe(false)
    expect((await store.listKeys({ limit: 10 })).keys).toEqual(['gh/new'])
  })

  it('pages newest first with a cursor, by source', async () => {
    const store = await open()
    for (let i = 0; i < 5; i++) store.merge(`gh/e${i}`, record(`e${i}`, now + i))
    const other = record('s', now + 10)
    other.base.source = 'stripe'
    store.merge('stripe/s', other)
    await store.flush()
    const first = await store.listKeys({ source: 'gh', limit: 2 })
    expect(first.keys).toEqual(['gh/e4', 'gh/e3'])
    const second = await store.listKeys({ source: 'gh', limit: 2, cursor: first.cursor })
    expect(second.keys).toEqual(['gh/e2', 'gh/e1'])
    const last = await store.listKeys({ source: 'gh', limit: 2, cursor: second.cursor })
    expect(last).toEqual({ keys: ['gh/e0'] })
  })

  it('writes two keys per event, both in receipt order, and moves them with an earlier receipt', async () => {
    const store = await open()
    const time = (ms: number): string => String(ms).padStart(13, '0')
    await store.merge('gh/b', record('b', now)).durable
    await store.merge('gh/a', record('a', now + 1)).durable
    await store.mergeActions('gh/b', [{ state: 'claimed', gen: 0, by: PEER_A, run: 'r' }]).durable
    const keys = async (): Promise<string[]> => {
      const out: string[] = []
      for await (const key of sublevel(db, 'ev').keys()) out.push(key)
      return out
    }
    expect(await keys()).toEqual([`t!${time(now)}!gh/b`, `t!${time(now)}#gh/b`, `t!${time(now + 1)}!gh/a`, `t!${time(now + 1)}#gh/a`])
    expect((await store.listKeys({ limit: 10 })).keys).toEqual(['gh/a', 'gh/b'])

    // Another node received `a` first: its copy, and its receipt time, win.
    const earlier = record('a', now - 5, PEER_B)
    earlier.base.payload = { id: 'a', from: 'B' }
    expect(store.merge('gh/a', earlier).outcome).toBe('changed')
    await store.flush()
    expect(await keys()).toEqual([`t!${time(now - 5)}!gh/a`, `t!${time(now - 5)}#gh/a`, `t!${time(now)}!gh/b`, `t!${time(now)}#gh/b`])
    await store.close()
    const reopened = await open()
    expect((await reopened.getRecord('gh/a'))?.base.payload).toEqual({ id: 'a', from: 'B' })
    expect((await reopened.getRecords(['gh/b', 'gh/a'])).map(r => r?.base.id)).toEqual(['b', 'a'])
    expect(reopened.meta('gh/b')?.actions[0]).toMatchObject({ state: 'claimed', run: 'r' })
    await reopened.close()
  })

  it('reads and prunes stores written with the older layouts', async () => {
    const store = await open()
    await store.merge('gh/new', record('new', now)).durable
    await store.mergeActions('gh/new', [{ state: 'claimed', gen: 0, by: PEER_A, run: 'r' }]).durable
    await store.close()

    // The same sublevel as older nodes left it. Before the base moved into the t! range, it was
    // at r!<key> (`mid`); before that, the index was in i!, the action states in a! and the t!
    // value empty (`old` with progressed states, `bare` without a!).
    const legacy = sublevel(db, 'ev')
    const old = record('old', now - 1000)
    const bare = record('bare', now - 500)
    const mid = record('mid', now - 200)
    const text = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value))
    await legacy.batch([
      { type: 'put', key: 'r!gh/mid', value: text(mid.base) },
      { type: 'put', key: `t!${String(now - 200).padStart(13, '0')}!gh/mid`, value: text({ s: 'gh', t: now - 200, by: PEER_A, k: ['command'], d: 'abc', n: 10, a: [{ state: 'failed', gen: 1, by: PEER_A, finishedAt: now }] }) },
      { type: 'put', key: 'r!gh/old', value: text(old.base) },
      { type: 'put', key: 'i!gh/old', value: text({ s: 'gh', t: now - 1000, by: PEER_A, k: ['command'], d: 'abc', n: 10 }) },
      { type: 'put', key: 'a!gh/old', value: text([{ state: 'succeeded', gen: 0, by: PEER_A, finishedAt: now }]) },
      { type: 'put', key: `t!${String(now - 1000).padStart(13, '0')}!gh/old`, value: new Uint8Array(0) },
      { type: 'put', key: 'r!gh/bare', value: text(bare.base) },
      { type: 'put', key: 'i!gh/bare', value: text({ s: 'gh', t: now - 500, by: PEER_B, k: ['command'], d: 'def', n: 10 }) },
      { type: 'put', key: `t!${String(now - 500).padStart(13, '0')}!gh/bare`, value: new Uint8Array(0) }
    ], { sync: true })
    const again = await open()
    expect(again.size).toBe(4)
    expect(again.meta('gh/new')?.actions[0]).toMatchObject({ state: 'claimed', by: PEER_A, run: 'r' })
    expect(again.meta('gh/old')).toMatchObject({ receivedBy: PEER_A, actions: [{ state: 'succeeded' }] })
    expect(again.meta('gh/bare')).toMatchObject({ receivedBy: PEER_B, actions: [{ state: 'pending', gen: 0 }] })
    expect(again.meta('gh/mid')).toMatchObject({ receivedBy: PEER_A, actions: [{ state: 'failed', gen: 1 }] })
    expect((await again.listKeys({ limit: 10 })).keys).toEqual(['gh/new', 'gh/mid', 'gh/bare', 'gh/old'])
    expect((await again.getRecords(['gh/old', 'gh/mid', 'gh/new'])).map(r => r?.base.payload)).toEqual([{ id: 'old' }, { id: 'mid' }, { id: 'new' }])
    expect((await again.getBaseBytes('gh/mid'))?.length).toBe(text(mid.base).length)
    // A legacy event's next change moves it to the new layout; pruning removes every key of both.
    await again.mergeActions('gh/bare', [{ state: 'claimed', gen: 0, by: PEER_B, run: 'q' }]).durable
    await again.close()
    const third = await open()
    expect(third.meta('gh/bare')?.actions[0]).toMatchObject({ state: 'claimed', run: 'q' })
    now += 8 * DAY
    expect(await third.prune()).toBe(4)
    const left: string[] = []
    for await (const key of sublevel(db, 'ev').keys()) left.push(key)
    expect(left).toEqual([])
  })

  it('shares repeated meta fields between events, and merges by the decision whatever its key order', async () => {
    const store = await open()
    const reordered = record('two', now - 1000)
    reordered.base.decision = { actions: [{ timeoutMs: 1000, argv: ['/bin/true'], kind: 'command' }], rule: 'r' }
    const other = record('three', now - 500)
    other.base.decision = { rule: 'r', actions: [{ kind: 'command', argv: ['/bin/false'], timeoutMs: 1000 }] }
    store.merge('gh/one', record('one', now - 2000))
    store.merge('gh/two', reordered)
    store.merge('gh/three', other)
    const [one, two, three] = ['gh/one', 'gh/two', 'gh/three'].map(k => store.meta(k))
    expect(two?.kinds).toBe(one?.kinds)
    expect(Object.isFrozen(one?.kinds)).toBe(true)
    expect(two?.decision).toBe(one?.decision)
    expect(three?.decision).not.toBe(one?.decision)

    // A copy routed the same way, built with its keys in another order, merges its action states.
    const copy = record('two', now - 1000)
    copy.actions = [{ state: 'succeeded', gen: 0, by: PEER_B, finishedAt: now }]
    expect(store.merge('gh/two', copy).outcome).toBe('changed')
    expect(store.meta('gh/two')?.actions[0]?.state).toBe('succeeded')
    await store.close()
  })
})
