import { request as httpRequest } from 'node:http'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sign } from '@octokit/webhooks-methods'
import { Webhook } from 'standardwebhooks'
import Stripe from 'stripe'
import type { IdlemeshNode } from '../../src/node.ts'
import { actionId, type EventSummary, type EventView } from '../../src/events/index.ts'
import { initMesh, startTestNode, tempDirs, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import { GITHUB_SECRET, eventOn, githubDelivery, postWebhook } from '../events/helpers.ts'
import { githubExample } from './helpers.ts'

const STANDARD_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
const STRIPE_SECRET = 'whsec_test_billing'
const BODY_LIMIT = 64 * 1024

/**
 * One real node, requests over real HTTP: signed deliveries from the reference signers and
 * GitHub's published payloads end up as events with their routing decision and outcomes; every
 * bad input is a JSON error that stores nothing and is counted in /health.
 */
describe('POST /webhook/:source on a node', () => {
  let dirs: TempDirs
  let node: IdlemeshNode
  let url: string

  beforeAll(async () => {
    dirs = tempDirs()
    const [dir] = await initMesh(dirs, 1)
    node = await startTestNode(dir as string, {
      webhooks: {
        bodyLimitBytes: BODY_LIMIT,
        sources: {
          gh: { scheme: 'github', secrets: ['old-secret', GITHUB_SECRET] },
          svix: { scheme: 'standard', secrets: [STANDARD_SECRET] },
          billing: { scheme: 'stripe', secrets: [STRIPE_SECRET] },
          open: { scheme: 'none' }
        }
      },
      events: { startupSettleMs: 0 },
      // Tasks are recorded, never run: no Claude Code here.
      tasks: { capacity: 0 }
    })
    url = node.httpUrl
  })
  afterAll(async () => {
    await node?.stop()
    dirs?.cleanup()
  })

  const health = async (): Promise<{ webhooks: { accepted: number, duplicates: number, rejected: Record<string, number> }, events: { stored: number } }> =>
    await (await fetch(`${url}/health`)).json() as never

  it('a push signed as GitHub signs it is stored before the 202, routed to a checkpoint on owner/repo, and the checkpoint is posted', async () => {
    const payload = githubExample('push', p => Array.isArray(p.commits) && p.commits.length > 0)
    const delivery = await githubDelivery('push', payload)
    const answer = await postWebhook(url, '/webhook/gh', delivery)
    expect(answer).toEqual({ status: 202, body: { status: 'queued', event_id: delivery.id } })
    // The 202 came after the durable write: the event is there, whatever the actions are doing.
    expect(node.events.store.has(`gh/${delivery.id}`)).toBe(true)

    const done = await waitFor(async () => {
      const view = await eventOn(url, delivery.id)
      return view?.status === 'done' ? view : undefined
    }, { what: 'the push checkpoint action to finish' })
    const stream = payload.repository.full_name as string
    expect(done.event).toMatchObject({ source: 'gh', id: delivery.id, provider: 'github', type: 'push', repo: stream, receivedBy: node.peerId })
    expect(done.event.payload).toEqual(payload)
    expect(done.routing.rule).toBe('github.push')
    expect(done.actions).toHaveLength(1)
    expect(done.actions[0]).toMatchObject({ kind: 'checkpoint', state: 'succeeded', by: node.peerId })
    const posted = (done.actions[0]?.result as { checkpoint: string }).checkpoint
    const history = await node.checkpoints.history(stream)
    expect(history.map(c => c.id)).toEqual([posted])
    const { payload: body } = await node.checkpoints.get(posted)
    expect(JSON.parse(Buffer.from(body).toString('utf8')).message).toContain(`Commits: ${payload.commits.length as number}`)
  })

  it('issues.opened becomes a queued task; a bot comment is skipped with its reason; ping is answered 202 and recorded', async () => {
    const issue = await githubDelivery('issues', githubExample('issues', p => p.action === 'opened'))
    expect((await postWebhook(url, '/webhook/gh', issue)).status).toBe(202)
    const comment = githubExample('issue_comment', p => p.action === 'created')
    comment.sender = { ...comment.sender, login: 'ci[bot]', type: 'Bot' }
    const bot = await githubDelivery('issue_comment', comment)
    expect((await postWebhook(url, '/webhook/gh', bot)).status).toBe(202)
    const ping = await githubDelivery('ping', githubExample('ping'))
    expect(await postWebhook(url, '/webhook/gh', ping)).toEqual({ status: 202, body: { status: 'queued', event_id: ping.id } })

    const task = await waitFor(async () => { const v = await eventOn(url, issue.id); return v?.status === 'done' ? v : undefined })
    expect(task.routing.rule).toBe('github.issues.opened')
    expect(task.routing.actions[0]).toMatchObject({ kind: 'task', conversation: 'Codertocat/Hello-World#1', branch: 'issue-1', repo: 'https://github.com/Codertocat/Hello-World.git' })
    // Handed to the task path under the action's deterministic id, so a retry finds it again.
    expect(task.actions[0]).toMatchObject({ kind: 'task', state: 'succeeded', result: { taskId: actionId(`gh/${issue.id}`, 0) } })
    const skipped = await eventOn(url, bot.id) as EventView
    expect(skipped.status).toBe('skipped')
    expect(skipped.routing.skipped).toMatch(/bot/)
    const pinged = await waitFor(async () => { const v = await eventOn(url, ping.id); return v?.status === 'done' ? v : undefined })
    expect(pinged.routing.rule).toBe('github.ping')
  })

  it("accepts GitHub's form encoding, a rotated secret, and answers a redelivery as a duplicate", async () => {
    const payload = githubExample('ping')
    const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`
    const id = randomUUID()
    const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-github-event': 'ping', 'x-github-delivery': id, 'x-hub-signature-256': await sign('old-secret', body) }
    expect(await postWebhook(url, '/webhook/gh', { id, headers, body })).toEqual({ status: 202, body: { status: 'queued', event_id: id } })
    expect(await postWebhook(url, '/webhook/gh', { id, headers, body })).toEqual({ status: 200, body: { status: 'duplicate_ignored', event_id: id } })
    expect((await eventOn(url, id))?.event.payload).toEqual(payload)
  })

  it('verifies Standard Webhooks and Stripe signatures made by their reference libraries', async () => {
    const now = new Date()
    const standardBody = JSON.stringify({ type: 'invoice.paid', data: { amount: 42 } })
    const msgId = `msg_${randomUUID()}`
    const standardHeaders = {
      'content-type': 'application/json',
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(STANDARD_SECRET).sign(msgId, now, standardBody)
    }
    expect(await postWebhook(url, '/webhook/svix', { id: msgId, headers: standardHeaders, body: standardBody })).toEqual({ status: 202, body: { status: 'queued', event_id: msgId } })
    expect((await eventOn(url, msgId, 'svix'))?.event).toMatchObject({ provider: 'standard', type: 'invoice.paid' })

    const stripeBody = JSON.stringify({ id: `evt_${randomUUID().slice(0, 8)}`, object: 'event', type: 'charge.refunded', data: { object: { id: 'ch_1' } } })
    const header = new Stripe('sk_test_offline').webhooks.generateTestHeaderString({ payload: stripeBody, secret: STRIPE_SECRET })
    const answer = await postWebhook(url, '/webhook/billing', { id: '', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: stripeBody })
    expect(answer.status).toBe(202)
    expect((await eventOn(url, answer.body.event_id, 'billing'))?.event).toMatchObject({ provider: 'stripe', type: 'charge.refunded' })
  })

  describe('bad input: a JSON error, nothing stored, counted in /health', () => {
    const refused = async (path: string, init: { headers: Record<string, string>, body: string }, status: number, code: string): Promise<void> => {
      const before = await health()
      const storedBefore = node.events.store.size
      const response = await fetch(`${url}${path}`, { method: 'POST', headers: init.headers, body: init.body })
      expect(response.status).toBe(status)
      expect(response.headers.get('content-type')).toMatch(/application\/json/)
      const body = await response.json() as { error: { code: string, message: string } }
      expect(body.error.code).toBe(code)
      expect(body.error.message).not.toMatch(/at .*\.ts:\d+/)
      const after = await health()
      expect(after.webhooks.rejected[code]).toBe((before.webhooks.rejected[code] ?? 0) + 1)
      expect(after.webhooks.accepted).toBe(before.webhooks.accepted)
      expect(node.events.store.size).toBe(storedBefore)
    }
    const json = { 'content-type': 'application/json', 'x-github-event': 'ping' }

    it('401 without a signature, with a wrong one, or with a stale timestamp', async () => {
      const body = JSON.stringify({ zen: 'unsigned' })
      await refused('/webhook/gh', { headers: { ...json, 'x-github-delivery': randomUUID() }, body }, 401, 'WEBHOOK_SIGNATURE_MISSING')
      await refused('/webhook/gh', { headers: { ...json, 'x-github-delivery': randomUUID(), 'x-hub-signature-256': await sign('not-the-secret', body) }, body }, 401, 'WEBHOOK_SIGNATURE_INVALID')
      const old = new Date(Date.now() - 10 * 60_000)
      const headers = { 'content-type': 'application/json', 'webhook-id': 'msg_old', 'webhook-timestamp': String(Math.floor(old.getTime() / 1000)), 'webhook-signature': new Webhook(STANDARD_SECRET).sign('msg_old', old, body) }
      await refused('/webhook/svix', { headers, body }, 401, 'WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE')
    })

    it('415 for an unsupported media type, 400 for malformed JSON (both signed)', async () => {
      const text = 'just text'
      await refused('/webhook/gh', { headers: { 'content-type': 'text/plain', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': await sign(GITHUB_SECRET, text) }, body: text }, 415, 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE')
      const broken = '{"zen": "unterminated'
      await refused('/webhook/gh', { headers: { ...json, 'x-github-delivery': randomUUID(), 'x-hub-signature-256': await sign(GITHUB_SECRET, broken) }, body: broken }, 400, 'WEBHOOK_BAD_JSON')
      await refused('/webhook/open', { headers: { 'content-type': 'application/json' }, body: '[1,' }, 400, 'WEBHOOK_BAD_JSON')
    })

    it('404 for an unknown source (and for /webhook when no source is named default)', async () => {
      await refused('/webhook/nobody', { headers: json, body: '{}' }, 404, 'WEBHOOK_UNKNOWN_SOURCE')
      await refused('/webhook', { headers: json, body: '{}' }, 404, 'WEBHOOK_UNKNOWN_SOURCE')
    })

    it('413 for a body over the limit, answered from Content-Length before the body is read', async () => {
      await refused('/webhook/gh', { headers: { ...json, 'x-github-delivery': randomUUID(), 'x-hub-signature-256': 'sha256=00' }, body: 'x'.repeat(BODY_LIMIT + 1) }, 413, 'WEBHOOK_BODY_TOO_LARGE')

      // Announce 64 MiB, send 16 KiB, and wait: the answer must come without the rest.
      const declared = 64 * 1024 * 1024
      const answer = await new Promise<{ status: number, body: string, sentBytes: number }>((resolve, reject) => {
        let sentBytes = 0
        const req = httpRequest(`${url}/webhook/gh`, { method: 'POST', headers: { ...json, 'content-length': String(declared) } }, (res) => {
          let body = ''
          res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => { resolve({ status: res.statusCode ?? 0, body, sentBytes }) })
        })
        req.on('error', (err) => { if (!(err as NodeJS.ErrnoException).code?.startsWith('EPIPE') && (err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err) })
        const chunk = Buffer.alloc(16 * 1024, 0x78)
        req.write(chunk, () => { sentBytes += chunk.length })
      })
      expect(answer.status).toBe(413)
      expect(JSON.parse(answer.body).error.code).toBe('WEBHOOK_BODY_TOO_LARGE')
      expect(answer.sentBytes).toBeLessThan(declared)
    })
  })

  it('GET /events lists newest first, filters by source and pages with a cursor; unknown ids are 404', async () => {
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const delivery = await githubDelivery('ping', { zen: `page ${i}` })
      expect((await postWebhook(url, '/webhook/gh', delivery)).status).toBe(202)
      ids.push(delivery.id)
    }
    const first = await (await fetch(`${url}/events?source=gh&limit=2`)).json() as { events: EventSummary[], next: string | null }
    expect(first.events.map(e => e.id)).toEqual([ids[2], ids[1]])
    expect(first.events.every(e => e.source === 'gh')).toBe(true)
    expect(first.next).not.toBeNull()
    const second = await (await fetch(`${url}/events?source=gh&limit=2&cursor=${encodeURIComponent(first.next as string)}`)).json() as { events: EventSummary[] }
    expect(second.events[0]?.id).toBe(ids[0])
    const svixOnly = await (await fetch(`${url}/events?source=svix`)).json() as { events: EventSummary[] }
    expect(svixOnly.events.every(e => e.source === 'svix')).toBe(true)

    const missing = await fetch(`${url}/events/${randomUUID()}`)
    expect(missing.status).toBe(404)
    expect((await missing.json() as { error: { code: string } }).error.code).toBe('EVENT_NOT_FOUND')
    const badLimit = await fetch(`${url}/events?limit=0`)
    expect(badLimit.status).toBe(400)
  })
})

describe('unknown sources when they are not refused', () => {
  it('are accepted unsigned (scheme none), and /webhook stores under source default', async () => {
    const dirs = tempDirs()
    const [dir] = await initMesh(dirs, 1)
    const node = await startTestNode(dir as string, { webhooks: { refuseUnknownSources: false }, events: { startupSettleMs: 0 } })
    try {
      const answer = await postWebhook(node.httpUrl, '/webhook', { id: '', headers: { 'content-type': 'application/json', 'x-event-id': 'evt-open-1' }, body: '{"type":"deploy.done"}' })
      expect(answer).toEqual({ status: 202, body: { status: 'queued', event_id: 'evt-open-1' } })
      expect((await eventOn(node.httpUrl, 'evt-open-1', 'default'))?.event).toMatchObject({ provider: 'generic', type: 'deploy.done' })
    } finally {
      await node.stop()
      dirs.cleanup()
    }
  })
})
