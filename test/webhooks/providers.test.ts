import { describe, it, expect } from 'vitest'
import { detectProvider, providerOfScheme } from '../../src/webhooks/index.ts'
import { githubExample } from './helpers.ts'

describe('detectProvider', () => {
  it('reads GitHub events from x-github-event and the action, with delivery id and repo', () => {
    const payload = githubExample('issues', p => p.action === 'opened')
    const event = detectProvider({ 'x-github-event': 'issues', 'x-github-delivery': 'd-1' }, payload)
    expect(event).toEqual({
      provider: 'github',
      type: 'issues.opened',
      action: 'opened',
      deliveryId: 'd-1',
      repo: 'Codertocat/Hello-World',
      summary: 'issues.opened Codertocat/Hello-World#1 "Spelling error in the README file"'
    })
  })

  it('uses the bare event name when GitHub sends no action (push, ping)', () => {
    const push = detectProvider({ 'x-github-event': 'push' }, githubExample('push', p => p.head_commit !== null && p.commits.length === 1))
    expect(push).toMatchObject({ provider: 'github', type: 'push', repo: 'Codertocat/Hello-World' })
    expect(push.action).toBeUndefined()
    expect(push.summary).toBe('push Codertocat/Hello-World refs/heads/master: 1 commit, head "Initial commit"')
    const pingPayload = githubExample('ping', p => p.repository !== undefined)
    const ping = detectProvider({ 'x-github-event': 'ping' }, pingPayload)
    expect(ping).toMatchObject({ type: 'ping', repo: pingPayload.repository.full_name })
    expect(ping.action).toBeUndefined()
  })

  it('reads Stripe from its signature header or from object: "event", with payload.type', () => {
    const payload = { id: 'evt_1', object: 'event', type: 'invoice.paid', data: { object: { id: 'in_1' } } }
    expect(detectProvider({ 'stripe-signature': 't=1,v1=00' }, payload)).toEqual({ provider: 'stripe', type: 'invoice.paid', deliveryId: 'evt_1', summary: 'invoice.paid in_1' })
    expect(detectProvider({}, payload).provider).toBe('stripe')
  })

  it('reads Standard Webhooks from webhook-id, with payload.type', () => {
    expect(detectProvider({ 'webhook-id': 'msg_1' }, { type: 'user.created' })).toEqual({ provider: 'standard', type: 'user.created', deliveryId: 'msg_1', summary: 'user.created' })
  })

  it('falls back to generic: x-event-type, then payload.type, then unknown', () => {
    expect(detectProvider({ 'x-event-type': 'build.done', 'x-event-id': 'b-1' }, { type: 'ignored' })).toEqual({ provider: 'generic', type: 'build.done', deliveryId: 'b-1', summary: 'build.done' })
    expect(detectProvider({}, { type: 'deploy.started' }).type).toBe('deploy.started')
    expect(detectProvider({}, ['no', 'type']).type).toBe('unknown')
  })

  it('prefers GitHub over Stripe over Standard when headers disagree', () => {
    expect(detectProvider({ 'x-github-event': 'ping', 'stripe-signature': 'x', 'webhook-id': 'm' }, {}).provider).toBe('github')
    expect(detectProvider({ 'stripe-signature': 'x', 'webhook-id': 'm' }, {}).provider).toBe('stripe')
  })

  it('skips detection when the provider is given', () => {
    expect(detectProvider({ 'x-github-event': 'push' }, { type: 'a.b' }, 'standard')).toMatchObject({ provider: 'standard', type: 'a.b' })
  })

  it('keeps the summary to one short line', () => {
    const payload = githubExample('issues', p => p.action === 'opened')
    payload.issue.title = `${'long '.repeat(100)}\nsecond line`
    const { summary } = detectProvider({ 'x-github-event': 'issues' }, payload)
    expect(summary.length).toBeLessThanOrEqual(200)
    expect(summary).not.toContain('\n')
  })
})

describe('providerOfScheme', () => {
  it('lets a scheme vouch for its provider, and leaves generic and none to detection', () => {
    expect(providerOfScheme('github')).toBe('github')
    expect(providerOfScheme('stripe')).toBe('stripe')
    expect(providerOfScheme('standard')).toBe('standard')
    expect(providerOfScheme('generic')).toBeUndefined()
    expect(providerOfScheme('none')).toBeUndefined()
  })
})
