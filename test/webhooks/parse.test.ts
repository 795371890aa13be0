import { describe, it, expect } from 'vitest'
import { parseBody } from '../../src/webhooks/index.ts'
import { expectWebhookError, githubExample } from './helpers.ts'

describe('parseBody', () => {
  it('parses application/json, with parameters and in any case', () => {
    expect(parseBody({ 'content-type': 'application/json' }, Buffer.from('{"a":1}')).payload).toEqual({ a: 1 })
    expect(parseBody({ 'content-type': 'Application/JSON; charset=utf-8' }, Buffer.from('[1,"é"]')).payload).toEqual([1, 'é'])
  })

  it('parses application/*+json and tolerates a UTF-8 byte order mark', () => {
    expect(parseBody({ 'content-type': 'application/cloudevents+json' }, Buffer.from('{"specversion":"1.0"}')).payload).toEqual({ specversion: '1.0' })
    expect(parseBody({ 'content-type': 'application/json' }, Buffer.from('\uFEFF{"a":true}')).payload).toEqual({ a: true })
  })

  it("parses GitHub's form encoding: the JSON in the payload field", () => {
    const payload = githubExample('issues', p => p.action === 'opened')
    const form = new URLSearchParams({ payload: JSON.stringify(payload) }).toString()
    expect(parseBody({ 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from(form)).payload).toEqual(payload)
  })

  it('refuses a form without a payload field (400) or with bad JSON in it (400)', () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    expectWebhookError(() => parseBody(form, Buffer.from('other=1')), 'WEBHOOK_FORM_PAYLOAD_MISSING')
    expectWebhookError(() => parseBody(form, Buffer.from('payload=%7Bnope')), 'WEBHOOK_BAD_JSON')
  })

  it('refuses other media types and a missing content type with 415', () => {
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/jsonp', 'text/json+x']) {
      expectWebhookError(() => parseBody({ 'content-type': type }, Buffer.from('{}')), 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE')
    }
    expectWebhookError(() => parseBody({}, Buffer.from('{}')), 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE')
  })

  it('refuses malformed JSON, an empty body and invalid UTF-8 with 400, without echoing the body', () => {
    const json = { 'content-type': 'application/json' }
    expectWebhookError(() => parseBody(json, Buffer.from('{"a":')), 'WEBHOOK_BAD_JSON')
    expectWebhookError(() => parseBody(json, Buffer.alloc(0)), 'WEBHOOK_BAD_JSON')
    expectWebhookError(() => parseBody(json, Buffer.from([0x22, 0xff, 0xfe, 0x22])), 'WEBHOOK_BAD_JSON')
    expect(() => parseBody(json, Buffer.from('{"token":"hunter2"'))).toThrow(/^the body is not valid JSON$/)
  })
})
