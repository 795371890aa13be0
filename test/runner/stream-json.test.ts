import { describe, expect, it } from 'vitest'
import { LineSplitter, TailBuffer, parseLine, resultFailure, summarizeResult } from '../../src/runner/stream-json.ts'
import { Slots } from '../../src/runner/slots.ts'

describe('stream-json parsing', () => {
  it('accepts only JSON objects with a string type', () => {
    expect(parseLine('{"type":"system","subtype":"init"}')).toEqual({ type: 'system', subtype: 'init' })
    expect(parseLine('  {"type":"result"}\r')).toEqual({ type: 'result' })
    for (const line of ['', 'plain', '42', '[1]', 'null', '{"no":"type"}', '{"type":3}', '{"type":"x"']) {
      expect(parseLine(line)).toBeUndefined()
    }
  })

  it('summarises a result line and tells success from failure', () => {
    const ok = summarizeResult({ type: 'result', subtype: 'success', is_error: false, result: 'done', session_id: 's', num_turns: 2, duration_ms: 5, total_cost_usd: 0.5, modelUsage: { m: {} } })
    expect(ok).toEqual({ subtype: 'success', isError: false, result: 'done', sessionId: 's', numTurns: 2, durationMs: 5, costUsd: 0.5, modelUsage: { m: {} }, errors: undefined })
    expect(resultFailure(ok)).toBeUndefined()
    expect(resultFailure({ ...ok, isError: true, result: 'Invalid API key' })).toBe('claude reported success (is_error): Invalid API key')
    const failed = summarizeResult({ type: 'result', subtype: 'error_during_execution', is_error: true, errors: ['boom', 7] })
    expect(resultFailure(failed)).toBe('claude reported error_during_execution (is_error): boom')
    expect(resultFailure(summarizeResult({ type: 'result' }))).toBe('claude reported unknown')
  })
})

describe('LineSplitter', () => {
  it('reassembles lines across chunks and flushes the last one', () => {
    const lines: string[] = []
    const splitter = new LineSplitter(1000, l => lines.push(l))
    splitter.push('{"a":')
    splitter.push('1}\r\nsecond\nthi')
    splitter.push('rd')
    expect(lines).toEqual(['{"a":1}', 'second'])
    splitter.flush()
    expect(lines).toEqual(['{"a":1}', 'second', 'third'])
  })

  it('cuts an endless line into pieces instead of holding it', () => {
    const lines: string[] = []
    const splitter = new LineSplitter(4, l => lines.push(l))
    splitter.push('abcdefghij')
    expect(lines).toEqual(['abcd', 'efgh'])
    splitter.push('\n')
    expect(lines).toEqual(['abcd', 'efgh', 'ij'])
  })
})

describe('TailBuffer', () => {
  it('keeps the last characters and says how many it dropped', () => {
    const tail = new TailBuffer(5)
    expect(tail.text()).toBeUndefined()
    tail.append('abc')
    tail.append('defg')
    expect(tail.text()).toBe('[2 earlier characters dropped]\ncdefg')
    tail.append('0123456789')
    expect(tail.text()).toBe('[12 earlier characters dropped]\n56789')
  })
})

describe('Slots', () => {
  it('hands a freed slot to the oldest waiter, and drops waiters that give up', async () => {
    const slots = new Slots(1)
    expect(slots.tryAcquire()).toBe(true)
    const order: string[] = []
    const quitter = new AbortController()
    const a = slots.acquire(new AbortController().signal).then(() => order.push('a'))
    const gone = slots.acquire(quitter.signal).catch(() => order.push('gave up'))
    const b = slots.acquire(new AbortController().signal).then(() => order.push('b'))
    expect(slots.waiting).toBe(3)
    quitter.abort()
    await gone
    slots.release()
    await a
    slots.release()
    await b
    expect(order).toEqual(['gave up', 'a', 'b'])
    expect(slots.running).toBe(1)
    slots.release()
    expect(slots.running).toBe(0)
    expect(() => slots.release()).toThrow(/released twice/)
  })
})
