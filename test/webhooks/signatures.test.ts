import { randomBytes } from 'node:crypto'
import { describe, it, expect } from 'vitest'
import { sign as githubSign, verify as githubVerify } from '@octokit/webhooks-methods'
import { Webhook } from 'standardwebhooks'
import Stripe from 'stripe'
import { sourceSchema, verifySignature, type SourceConfig } from '../../src/webhooks/index.ts'
import { expectWebhookError } from './helpers.ts'

const NOW = Date.parse('2025-06-01T12:00:00Z')
const NOW_S = NOW / 1000

function source (input: { scheme: string, secrets?: string[], toleranceSeconds?: number }): SourceConfig {
  return sourceSchema.parse(input)
}

describe('github scheme (x-hub-signature-256)', () => {
  const secret = "It's a Secret to Everybody"
  const body = Buffer.from('Hello, World!')
  const published = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'

  it("accepts GitHub's published example", () => {
    const result = verifySignature(source({ scheme: 'github', secrets: [secret] }), { 'x-hub-signature-256': published }, body, NOW)
    expect(result).toEqual({ scheme: 'github', secretIndex: 0 })
  })

  it('accepts what @octokit/webhooks-methods signs, and agrees with its verify', async () => {
    const payload = JSON.stringify({ action: 'opened', issue: { number: 7, title: 'héllo ✓' } })
    const signature = await githubSign('s3cret', payload)
    expect(await githubVerify('s3cret', payload, signature)).toBe(true)
    const result = verifySignature(source({ scheme: 'github', secrets: ['s3cret'] }), { 'x-hub-signature-256': signature }, Buffer.from(payload), NOW)
    expect(result.secretIndex).toBe(0)
  })

  it('accepts the old and the new secret during a rotation, and tells which matched', async () => {
    const rotating = source({ scheme: 'github', secrets: ['old-secret', 'new-secret'] })
    const payload = '{"zen":"Keep it logically awesome."}'
    const oldSig = await githubSign('old-secret', payload)
    const newSig = await githubSign('new-secret', payload)
    expect(verifySignature(rotating, { 'x-hub-signature-256': oldSig }, Buffer.from(payload), NOW).secretIndex).toBe(0)
    expect(verifySignature(rotating, { 'x-hub-signature-256': newSig }, Buffer.from(payload), NOW).secretIndex).toBe(1)
    const retired = source({ scheme: 'github', secrets: ['new-secret'] })
    expectWebhookError(() => verifySignature(retired, { 'x-hub-signature-256': oldSig }, Buffer.from(payload), NOW), 'WEBHOOK_SIGNATURE_INVALID')
  })

  it('rejects a tampered body', () => {
    const gh = source({ scheme: 'github', secrets: [secret] })
    expectWebhookError(() => verifySignature(gh, { 'x-hub-signature-256': published }, Buffer.from('Hello, World?'), NOW), 'WEBHOOK_SIGNATURE_INVALID')
  })

  it('rejects a missing or blank header as missing', () => {
    const gh = source({ scheme: 'github', secrets: [secret] })
    expectWebhookError(() => verifySignature(gh, {}, body, NOW), 'WEBHOOK_SIGNATURE_MISSING')
    expectWebhookError(() => verifySignature(gh, { 'x-hub-signature-256': '  ' }, body, NOW), 'WEBHOOK_SIGNATURE_MISSING')
    // The legacy SHA-1 header alone is not enough.
    expectWebhookError(() => verifySignature(gh, { 'x-hub-signature': 'sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59' }, body, NOW), 'WEBHOOK_SIGNATURE_MISSING')
  })

  it('rejects signatures of the wrong length or form', () => {
    const gh = source({ scheme: 'github', secrets: [secret] })
    const hex = published.slice('sha256='.length)
    for (const bad of [
      `sha256=${hex.slice(0, -2)}`, // one byte short
      `sha256=${hex}00`, // one byte long
      `sha256=${hex}0`, // half a byte long: must not be truncated into a match
      `sha256=${hex.slice(0, -1)}`, // odd length
      hex, // no prefix
      `sha1=${hex}`,
      'sha256=',
      `sha256=${'zz'.repeat(32)}`
    ]) {
      expectWebhookError(() => verifySignature(gh, { 'x-hub-signature-256': bad }, body, NOW), 'WEBHOOK_SIGNATURE_INVALID')
    }
  })

  it('accepts upper-case hex, as a constant-time comparison of bytes should', () => {
    const gh = source({ scheme: 'github', secrets: [secret] })
    expect(verifySignature(gh, { 'x-hub-signature-256': `sha256=${published.slice(7).toUpperCase()}` }, body, NOW).secretIndex).toBe(0)
  })
})

describe('generic scheme (x-signature)', () => {
  it('checks sha256=<hex> HMAC of the raw body under every secret', async () => {
    const generic = source({ scheme: 'generic', secrets: ['a', 'b'] })
    const payload = Buffer.from('{"type":"build.finished"}')
    const signature = await githubSign('b', payload.toString())
    expect(verifySignature(generic, { 'x-signature': signature }, payload, NOW)).toEqual({ scheme: 'generic', secretIndex: 1 })
    expectWebhookError(() => verifySignature(generic, { 'x-hub-signature-256': signature }, payload, NOW), 'WEBHOOK_SIGNATURE_MISSING')
    expectWebhookError(() => verifySignature(generic, { 'x-signature': signature }, Buffer.from('{"type":"build.failed"}'), NOW), 'WEBHOOK_SIGNATURE_INVALID')
  })
})

describe('standard scheme (Standard Webhooks)', () => {
  const secret = `whsec_${randomBytes(24).toString('base64')}`
  const other = `whsec_${randomBytes(32).toString('base64')}`
  const payload = '{"type":"user.created","data":{"id":"u_1"}}'
  const id = 'msg_2Lh9oAW2yG2LqaEBa3HhTEAg2Qd'

  function signed (withSecret: string, at: number, body = payload): Record<string, string> {
    return {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at / 1000)),
      'webhook-signature': new Webhook(withSecret).sign(id, new Date(at), body)
    }
  }

  it('accepts what the standardwebhooks library signs, and agrees with its verify', () => {
    const headers = signed(secret, NOW)
    const result = verifySignature(source({ scheme: 'standard', secrets: [secret] }), headers, Buffer.from(payload), NOW)
    expect(result).toEqual({ scheme: 'standard', secretIndex: 0 })
    // The reference implementation checks against the real clock, so sign for it now.
    const live = signed(secret, Date.now())
    expect(new Webhook(secret).verify(payload, live)).toEqual(JSON.parse(payload))
    expect(verifySignature(source({ scheme: 'standard', secrets: [secret] }), live, Buffer.from(payload), Date.now()).secretIndex).toBe(0)
  })

  it('accepts the old and the new secret during a rotation', () => {
    const rotating = source({ scheme: 'standard', secrets: [secret, other] })
    expect(verifySignature(rotating, signed(secret, NOW), Buffer.from(payload), NOW).secretIndex).toBe(0)
    expect(verifySignature(rotating, signed(other, NOW), Buffer.from(payload), NOW).secretIndex).toBe(1)
  })

  it('passes when any v1 entry of a space-separated list matches, and ignores other versions', () => {
    const headers = signed(other, NOW)
    const good = headers['webhook-signature']
    const list = `v1a,${randomBytes(64).toString('base64')} v1,${randomBytes(32).toString('base64')} ${good}`
    const std = source({ scheme: 'standard', secrets: [other] })
    expect(verifySignature(std, { ...headers, 'webhook-signature': list }, Buffer.from(payload), NOW).secretIndex).toBe(0)
    expectWebhookError(() => verifySignature(std, { ...headers, 'webhook-signature': `v1a,${good?.slice(3)}` }, Buffer.from(payload), NOW), 'WEBHOOK_SIGNATURE_INVALID')
  })

  it('rejects a tampered body, id or timestamp', () => {
    const std = source({ scheme: 'standard', secrets: [secret] })
    const headers = signed(secret, NOW)
    expectWebhookError(() => verifySignature(std, headers, Buffer.from(payload.replace('u_1', 'u_2')), NOW), 'WEBHOOK_SIGNATURE_INVALID')
    expectWebhookError(() => verifySignature(std, { ...headers, 'webhook-id': 'msg_other' }, Buffer.from(payload), NOW), 'WEBHOOK_SIGNATURE_INVALID')
    // A timestamp moved by one second, still well inside the tolerance, breaks the signature.
    expectWebhookError(() => verifySignature(std, { ...headers, 'webhook-timestamp': String(NOW_S + 1) }, Buffer.from(payload), NOW), 'WEBHOOK_SIGNATURE_INVALID')
    expectWebhookError(() => verifySignature(std, { ...headers, 'webhook-timestamp': 'yesterday' }, Buffer.from(payload), NOW), 'WEBHOOK_SIGNATURE_INVALID')
  })

  it('rejects a valid signature outside ±toleranceSeconds, and accepts one at the edge', () => {
    const std = source({ scheme: 'standard', secrets: [secret], toleranceSeconds: 300 })
    const body = Buffer.from(payload)
    expect(verifySignature(std, signed(secret, NOW - 300_000), body, NOW).secretIndex).toBe(0)
    expect(verifySignature(std, signed(secret, NOW + 300_000), body, NOW).secretIndex).toBe(0)
    expectWebhookError(() => verifySignature(std, signed(secret, NOW - 301_000), body, NOW), 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE')
    expectWebhookError(() => verifySignature(std, signed(secret, NOW + 301_000), body, NOW), 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE')
  })

  it('reports an old timestamp only to a holder of the secret', () => {
    const std = source({ scheme: 'standard', secrets: [secret] })
    expectWebhookError(() => verifySignature(std, signed(other, NOW - 3_600_000), Buffer.from(payload), NOW), 'WEBHOOK_SIGNATURE_INVALID')
  })

  it('rejects missing headers, a wrong-length signature and a header sent twice', () => {
    const std = source({ scheme: 'standard', secrets: [secret] })
    const headers = signed(secret, NOW)
    const body = Buffer.from(payload)
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const { [name]: _dropped, ...rest } = headers
      expectWebhookError(() => verifySignature(std, rest, body, NOW), 'WEBHOOK_SIGNATURE_MISSING')
    }
    const sig = headers['webhook-signature'] ?? ''
    const short = `v1,${Buffer.from(sig.slice(3), 'base64').subarray(0, 31).toString('base64')}`
    expectWebhookError(() => verifySignature(std, { ...headers, 'webhook-signature': short }, body, NOW), 'WEBHOOK_SIGNATURE_INVALID')
    expectWebhookError(() => verifySignature(std, { ...headers, 'webhook-id': [id, 'msg_other'] }, body, NOW), 'WEBHOOK_SIGNATURE_INVALID')
  })
})

describe('stripe scheme (stripe-signature)', () => {
  const stripe = new Stripe('sk_test_not_used_offline')
  const secret = 'whsec_test_old'
  const next = 'whsec_test_new'
  const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'invoice.paid' })

  function header (withSecret: string, timestamp = NOW_S, body = payload): string {
    return stripe.webhooks.generateTestHeaderString({ payload: body, secret: withSecret, timestamp })
  }

  it('accepts what stripe.webhooks.generateTestHeaderString signs, under every secret', () => {
    const rotating = source({ scheme: 'stripe', secrets: [secret, next] })
    expect(verifySignature(rotating, { 'stripe-signature': header(secret) }, Buffer.from(payload), NOW)).toEqual({ scheme: 'stripe', secretIndex: 0 })
    expect(verifySignature(rotating, { 'stripe-signature': header(next) }, Buffer.from(payload), NOW).secretIndex).toBe(1)
  })

  it('agrees with stripe.webhooks.constructEvent', () => {
    const live = header(secret, Math.floor(Date.now() / 1000))
    expect(stripe.webhooks.constructEvent(payload, live, secret).id).toBe('evt_1')
    expect(verifySignature(source({ scheme: 'stripe', secrets: [secret] }), { 'stripe-signature': live }, Buffer.from(payload), Date.now()).secretIndex).toBe(0)
  })

  it('passes when any v1 of the header matches, as Stripe sends while rolling a secret', () => {
    const oldV1 = header(secret).split(',v1=')[1]
    const newV1 = header(next).split(',v1=')[1]
    const both = `t=${NOW_S},v1=${newV1},v1=${oldV1},v0=deadbeef`
    expect(verifySignature(source({ scheme: 'stripe', secrets: [secret] }), { 'stripe-signature': both }, Buffer.from(payload), NOW).secretIndex).toBe(0)
  })

  it('rejects a tampered body or timestamp, and an old or future timestamp', () => {
    const s = source({ scheme: 'stripe', secrets: [secret] })
    const body = Buffer.from(payload)
    const good = header(secret)
    expectWebhookError(() => verifySignature(s, { 'stripe-signature': good }, Buffer.from(payload.replace('paid', 'void')), NOW), 'WEBHOOK_SIGNATURE_INVALID')
    expectWebhookError(() => verifySignature(s, { 'stripe-signature': good.replace(`t=${NOW_S}`, `t=${NOW_S - 1}`) }, body, NOW), 'WEBHOOK_SIGNATURE_INVALID')
    expectWebhookError(() => verifySignature(s, { 'stripe-signature': header(secret, NOW_S - 301) }, body, NOW), 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE')
    expectWebhookError(() => verifySignature(s, { 'stripe-signature': header(secret, NOW_S + 301) }, body, NOW), 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE')
    expect(verifySignature(s, { 'stripe-signature': header(secret, NOW_S - 299) }, body, NOW).secretIndex).toBe(0)
  })

  it('rejects a missing header, a header without t or v1, and a wrong-length v1', () => {
    const s = source({ scheme: 'stripe', secrets: [secret] })
    const body = Buffer.from(payload)
    const v1 = header(secret).split(',v1=')[1] ?? ''
    expectWebhookError(() => verifySignature(s, {}, body, NOW), 'WEBHOOK_SIGNATURE_MISSING')
    expectWebhookError(() => verifySignature(s, { 'stripe-signature': `v1=${v1}` }, body, NOW), 'WEBHOOK_SIGNATURE_INVALID')
    expectWebhookError(() => verifySignature(s, { 'stripe-signature': `t=${NOW_S}` }, body, NOW), 'WEBHOOK_SIGNATURE_INVALID')
    expectWebhookError(() => verifySignature(s, { 'stripe-signature': `t=${NOW_S},v1=${v1.slice(0, 62)}` }, body, NOW), 'WEBHOOK_SIGNATURE_INVALID')
    expectWebhookError(() => verifySignature(s, { 'stripe-signature': `t=${NOW_S},t=${NOW_S},v1=${v1}` }, body, NOW), 'WEBHOOK_SIGNATURE_INVALID')
  })
})

describe('none scheme', () => {
  it('accepts any request without looking at it', () => {
    expect(verifySignature(source({ scheme: 'none' }), {}, Buffer.from('anything'), NOW)).toEqual({ scheme: 'none', secretIndex: null })
  })
})
