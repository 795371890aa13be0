import { describe, expect, it } from 'vitest'
import { mergeActions, ownerOf, pickState, rank, type ActionState } from '../../src/events/index.ts'
import { baseJson, parseRecord, readRecordJson, recordJson, type EventBase } from '../../src/events/record.ts'

const KEY = 'gh/5b1c2a4e-delivery'
const A = '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const B = '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'
const C = '12D3KooWCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC'

/** Every state an action can be in, as different nodes may hold them after races and takeovers. */
const STATES: ActionState[] = [
  { state: 'pending', gen: 0 },
  { state: 'pending', gen: 1 },
  { state: 'claimed', gen: 0, by: A, run: 'r1', claimedAt: 10 },
  { state: 'claimed', gen: 0, by: B, run: 'r2', claimedAt: 11 },
  { state: 'claimed', gen: 1, by: C, run: 'r3', claimedAt: 20 },
  { state: 'started', gen: 0, by: B, run: 'r2', claimedAt: 11, startedAt: 12 },
  { state: 'started', gen: 1, by: C, run: 'r3', claimedAt: 20, startedAt: 21 },
  { state: 'succeeded', gen: 0, by: B, run: 'r2', finishedAt: 30, result: { ok: true } },
  { state: 'succeeded', gen: 1, by: C, run: 'r3', finishedAt: 40, result: { ok: true } },
  { state: 'failed', gen: 0, by: A, run: 'r1', finishedAt: 30, error: 'exit 1' },
  { state: 'unknown', gen: 1, by: C, run: 'r3', finishedAt: 25, error: 'runner died' }
]

describe('action states merge as a join, so copies converge in any order', () => {
  it('is commutative, associative and idempotent over every pair and triple of states', () => {
    for (const a of STATES) {
      expect(pickState(a, a, KEY)).toEqual(a)
      for (const b of STATES) {
        expect(pickState(a, b, KEY)).toEqual(pickState(b, a, KEY))
        for (const c of STATES) {
          expect(pickState(pickState(a, b, KEY), c, KEY)).toEqual(pickState(a, pickState(b, c, KEY), KEY))
        }
      }
    }
  })

  it('a finished state beats any unfinished one, whatever its generation', () => {
    const done: ActionState = { state: 'succeeded', gen: 0, by: B, finishedAt: 30 }
    expect(pickState(done, { state: 'claimed', gen: 5, by: C }, KEY)).toBe(done)
    expect(pickState({ state: 'pending', gen: 9 }, done, KEY)).toBe(done)
  })

  it('a takeover (higher generation) beats the stale claim; a start beats a claim of the same generation', () => {
    const stale: ActionState = { state: 'started', gen: 0, by: A, run: 'old' }
    const takeover: ActionState = { state: 'claimed', gen: 1, by: B, run: 'new' }
    expect(pickState(stale, takeover, KEY)).toBe(takeover)
    const claim: ActionState = { state: 'claimed', gen: 1, by: C, run: 'x' }
    const start: ActionState = { state: 'started', gen: 1, by: B, run: 'new' }
    expect(pickState(claim, start, KEY)).toBe(start)
  })

  it('two claims of the same generation: the claimant ranked first for the event wins everywhere', () => {
    const a: ActionState = { state: 'claimed', gen: 0, by: A, run: 'r' }
    const b: ActionState = { state: 'claimed', gen: 0, by: B, run: 'r' }
    const winner = rank(A, KEY) < rank(B, KEY) ? a : b
    expect(pickState(a, b, KEY)).toBe(winner)
    expect(pickState(b, a, KEY)).toBe(winner)
  })

  it('merges lists position by position', () => {
    const merged = mergeActions(
      [{ state: 'succeeded', gen: 0, by: A, finishedAt: 1 }, { state: 'pending', gen: 0 }],
      [{ state: 'claimed', gen: 0, by: B }, { state: 'started', gen: 0, by: B }],
      KEY
    )
    expect(merged.map(s => s.state)).toEqual(['succeeded', 'started'])
  })
})

describe('owner election (rendezvous hashing)', () => {
  it('every node computes the same owner whatever the order of the members', () => {
    for (let i = 0; i < 50; i++) {
      const key = `gh/delivery-${i}`
      expect(ownerOf(key, [A, B, C])).toBe(ownerOf(key, [C, A, B]))
    }
  })

  it('spreads events over members, and a departing member moves only the events it owned', () => {
    const owned: Record<string, number> = { [A]: 0, [B]: 0, [C]: 0 }
    for (let i = 0; i < 300; i++) {
      const key = `gh/delivery-${i}`
      const owner = ownerOf(key, [A, B, C]) as string
      owned[owner] = (owned[owner] ?? 0) + 1
      if (owner !== C) expect(ownerOf(key, [A, B])).toBe(owner)
    }
    for (const count of Object.values(owned)) expect(count).toBeGreaterThan(60)
  })
})

describe('records from peers are checked before anything is stored', () => {
  const base = {
    v: 1,
    source: 'gh',
    id: 'd-1',
    receivedAt: 1,
    receivedBy: A,
    event: { provider: 'github', type: 'ping', summary: 'ping' },
    payload: { zen: 'hi' },
    decision: { rule: 'github.ping', actions: [{ kind: 'noop' }] }
  }

  it('accepts a well-formed record', () => {
    expect(parseRecord({ base, actions: [{ state: 'pending', gen: 0 }] })).toBeDefined()
  })

  it('refuses a record whose action states do not match its actions, a bad source name, or an unknown state', () => {
    expect(parseRecord({ base, actions: [] })).toBeUndefined()
    expect(parseRecord({ base: { ...base, source: 'a/b' }, actions: [{ state: 'pending', gen: 0 }] })).toBeUndefined()
    expect(parseRecord({ base, actions: [{ state: 'done', gen: 0 }] })).toBeUndefined()
    expect(parseRecord({ base: { ...base, decision: { rule: 'x', actions: [{ kind: 'shell' }] } }, actions: [{ state: 'pending', gen: 0 }] })).toBeUndefined()
  })

  it('refuses keys it does not know in the base, its event and its decision (the base is stored as it came)', () => {
    const actions = [{ state: 'pending', gen: 0 }]
    expect(parseRecord({ base: { ...base, extra: 1 }, actions })).toBeUndefined()
    expect(parseRecord({ base: { ...base, event: { ...base.event, extra: 1 } }, actions })).toBeUndefined()
    expect(parseRecord({ base: { ...base, decision: { ...base.decision, extra: 1 } }, actions })).toBeUndefined()
  })
})

describe('record JSON: the base stored and sent as it came', () => {
  const base: EventBase = {
    v: 1,
    source: 'gh',
    id: 'd-1',
    receivedAt: 1,
    receivedBy: A,
    event: { provider: 'github', type: 'push', summary: 'push' },
    payload: null,
    decision: { rule: 'default', actions: [{ kind: 'noop' }] }
  }
  const states: ActionState[] = [{ state: 'succeeded', gen: 0, by: A, finishedAt: 2 }]

  it("splices the sender's payload text into the base's JSON, which parses back to the same base", () => {
    for (const text of ['{"a":1}', ' { "actions" : [1, 2.50, "é\\u00e9"],\n "x": {"y": null} } ', '[]', '"text"', '0']) {
      const withPayload = { ...base, payload: JSON.parse(text) as unknown }
      const bytes = baseJson(withPayload, text)
      expect(JSON.parse(bytes.toString('utf8'))).toEqual(withPayload)
      expect(bytes.toString('utf8')).toContain(`"payload":${text},"decision"`)
    }
    expect(baseJson(base).toString('utf8')).toBe(JSON.stringify(base))
  })

  it('reads the base bytes back out of a record, even with the separator inside the payload', () => {
    const payload = { actions: [{ ',"actions":': ',"actions":[]}' }] }
    const stored = baseJson({ ...base, payload }, JSON.stringify(payload))
    const read = readRecordJson(recordJson(stored, states))
    expect(read.baseBytes?.equals(stored)).toBe(true)
    expect(read.json).toEqual({ base: { ...base, payload }, actions: states })
  })

  it('parses anything else whole, without base bytes: a separator in the states, a repeated key, another layout', () => {
    const odd = [{ ...states[0] as ActionState, result: { text: ',"actions":', actions: [] } }]
    const inStates = readRecordJson(recordJson(baseJson(base), odd))
    expect(inStates.baseBytes).toBeUndefined()
    expect(inStates.json).toEqual({ base, actions: odd })

    // The base bytes would be '{"a":1},"base":{...}', which is not the base JSON.parse keeps.
    const repeated = readRecordJson(Buffer.from(`{"base":{"a":1},"base":${JSON.stringify(base)},"actions":[]}`))
    expect(repeated.baseBytes).toBeUndefined()
    expect(repeated.json).toEqual({ base, actions: [] })

    const reordered = readRecordJson(Buffer.from(JSON.stringify({ actions: states, base })))
    expect(reordered.baseBytes).toBeUndefined()
    expect(reordered.json).toEqual({ base, actions: states })
    expect(() => readRecordJson(Buffer.from('{"base":'))).toThrow(SyntaxError)
  })
})
