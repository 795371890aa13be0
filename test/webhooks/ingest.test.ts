import type { IncomingHttpHeaders } from 'node:http'
import { describe, it, expect } from 'vitest'
import { sign } from '@octokit/webhooks-methods'
import { Webhook } from 'standardwebhooks'
import Stripe from 'stripe'
import { ingestWebhook, webhooksConfigSchema } from '../../src/webhooks/index.ts'
import { expectWebhookError } from './helpers.ts'

const NOW = Date.parse('2025-06-01T12:00:00Z')
const config = webhooksConfigSchema.parse({
  sources: {
    github: { scheme: 'github', secrets: ['gh'] },
    ci: { scheme: 'generic', secrets: ['ci'] },
    billing: { scheme: 'stripe', secrets: ['whsec_billing'] },
    svix: { scheme: 'standard', secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] },
    relay: { scheme: 'generic', secrets: ['relay'], provider: 'standard' }
  }
})
const json = { 'content-type': 'application/json' }

describe('ingestWebhook', () => {
  it('checks the signature before parsing: an unsigned bad body is 401, not 400', () => {
    expectWebhookError(() => ingestWebhook(config, { source: 'github', headers: json, rawBody: Buffer.from('{oops'), now: NOW }), 'WEBHOOK_SIGNATURE_MISSING')
    expectWebhookError(() => ingestWebhook(config, { source: 'github', headers: { 'content-type': 'text/plain', 'x-hub-signature-256': 'sha256=00' }, rawBody: Buffer.from('x'), now: NOW }), 'WEBHOOK_SIGNATURE_INVALID')
  })

  it('parses only once the signature holds, then refuses bad bodies with 400 or 415', async () => {
    const bad = '{oops'
    expectWebhookError(() => ingestWebhook(config, { source: 'ci', headers: { ...json, 'x-signature': '' }, rawBody: Buffer.from(bad), now: NOW }), 'WEBHOOK_SIGNATURE_MISSING')
    const signed = { 'x-signature': await sign('ci', bad) }
    expectWebhookError(() => ingestWebhook(config, { source: 'ci', headers: { ...json, ...signed }, rawBody: Buffer.from(bad), now: NOW }), 'WEBHOOK_BAD_JSON')
    expectWebhookError(() => ingestWebhook(config, { source: 'ci', headers: { 'content-type': 'text/csv', ...signed }, rawBody: Buffer.from(bad), now: NOW }), 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE')
  })

  it('refuses an unknown source with 404 before looking at anything else', () => {
    expectWebhookError(() => ingestWebhook(config, { source: 'nope', headers: {}, rawBody: Buffer.alloc(0), now: NOW }), 'WEBHOOK_UNKNOWN_SOURCE')
  })

  it('returns the event id, the normalized event, the payload and which secret matched', async () => {
    const body = JSON.stringify({ id: 17, type: 'build.finished', ok: true })
    // Typed as Node hands them over, so the route can pass request.headers as they are.
    const headers: IncomingHttpHeaders = { ...json, 'x-event-type': 'build.done', 'x-signature': await sign('ci', body) }
    const delivery = ingestWebhook(config, {
      source: 'ci',
      headers,
      rawBody: Buffer.from(body),
      now: NOW
    })
    expect(delivery).toEqual({
      source: 'ci',
      id: '17',
      event: { provider: 'generic', type: 'build.done', summary: 'build.done' },
      payload: { id: 17, type: 'build.finished', ok: true },
      payloadJson: body,
      verification: { scheme: 'generic', secretIndex: 0 }
    })
  })

  it("takes the provider from the scheme that vouched for the request, or from the source's provider", async () => {
    const stripe = new Stripe('sk_test_not_used_offline')
    // No object: 'event' in the body: the Stripe scheme alone makes it a Stripe event.
    const body = JSON.stringify({ id: 'evt_2', type: 'charge.refunded' })
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_billing', timestamp: NOW / 1000 })
    const billing = ingestWebhook(config, { source: 'billing', headers: { ...json, 'stripe-signature': header }, rawBody: Buffer.from(body), now: NOW })
    expect(billing.event).toMatchObject({ provider: 'stripe', type: 'charge.refunded' })
    expect(billing.id).toBe('evt_2')

    // A Standard Webhooks sender whose payload happens to look like Stripe's stays a standard event.
    const lookalike = JSON.stringify({ object: 'event', type: 'invoice.created' })
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(NOW / 1000), 'webhook-signature': new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').sign('msg_1', new Date(NOW), lookalike) }
    const svix = ingestWebhook(config, { source: 'svix', headers: { ...json, ...headers }, rawBody: Buffer.from(lookalike), now: NOW })
    expect(svix.event).toMatchObject({ provider: 'standard', type: 'invoice.created', deliveryId: 'msg_1' })
    expect(svix.id).toBe('msg_1')

    const relayed = JSON.stringify({ type: 'user.deleted' })
    const relay = ingestWebhook(config, {
      source: 'relay',
      headers: { ...json, 'x-github-event': 'push', 'x-signature': await sign('relay', relayed) },
      rawBody: Buffer.from(relayed),
      now: NOW
    })
    expect(relay.event).toMatchObject({ provider: 'standard', type: 'user.deleted' })
  })
})
