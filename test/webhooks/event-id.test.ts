import { createHash } from 'node:crypto'
import { describe, it, expect } from 'vitest'
import { eventId } from '../../src/webhooks/index.ts'

describe('eventId', () => {
  const body = Buffer.from('{"id":"evt_9"}')
  const all = { 'x-event-id': 'explicit', 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958', 'webhook-id': 'msg_1' }

  it('takes x-event-id, then x-github-delivery, then webhook-id, then the JSON id, then a body hash', () => {
    expect(eventId(all, body, { id: 'evt_9' })).toBe('explicit')
    const { 'x-event-id': _1, ...noExplicit } = all
    expect(eventId(noExplicit, body, { id: 'evt_9' })).toBe('72d3162e-cc78-11e3-81ab-4c9367dc0958')
    const { 'x-github-delivery': _2, ...standardOnly } = noExplicit
    expect(eventId(standardOnly, body, { id: 'evt_9' })).toBe('msg_1')
    expect(eventId({}, body, { id: 'evt_9' })).toBe('evt_9')
    expect(eventId({}, body, { other: 1 })).toBe(`sha256:${createHash('sha256').update(body).digest('hex')}`)
  })

  it('accepts a numeric JSON id, and ignores blank headers and ids that are neither strings nor numbers', () => {
    expect(eventId({}, body, { id: 42 })).toBe('42')
    expect(eventId({ 'x-event-id': '  ' }, body, { id: 42 })).toBe('42')
    const hash = `sha256:${createHash('sha256').update(body).digest('hex')}`
    expect(eventId({}, body, { id: { nested: true } })).toBe(hash)
    expect(eventId({}, body, { id: '' })).toBe(hash)
    expect(eventId({}, body, [{ id: 'in an array' }])).toBe(hash)
    expect(eventId({}, body, { id: Number.NaN })).toBe(hash)
  })

  it('gives identical bodies the same hash id and different bodies different ones', () => {
    expect(eventId({}, Buffer.from('a'), 'a')).toBe(eventId({}, Buffer.from('a'), 'a'))
    expect(eventId({}, Buffer.from('a'), 'a')).not.toBe(eventId({}, Buffer.from('b'), 'b'))
  })
})
