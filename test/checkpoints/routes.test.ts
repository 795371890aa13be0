import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { checkpointRoutes } from '../../src/checkpoints/routes.ts'
import type { CheckpointView, PostInput, PostResult } from '../../src/checkpoints/service-types.ts'
import { IdlemeshError } from '../../src/errors.ts'
import { buildHttpApp } from '../../src/http/index.ts'
import { silentLogger } from '../../src/logger.ts'
import { FAKE_AUTHOR, fakeId, fakeService, type FakeEntry } from './fake-service.ts'

function build (maxPayloadBytes?: number) {
  const fake = fakeService()
  const app = buildHttpApp({ logger: silentLogger() }, {
    routes: [
      checkpointRoutes(fake.service, maxPayloadBytes === undefined ? {} : { maxPayloadBytes }),
      // A JSON route outside the checkpoint scope: its parsing must be untouched.
      (a) => { a.post('/echo', async (request) => ({ got: request.body })) }
    ]
  })
  return { app, ...fake }
}

const OCTETS = { 'content-type': 'application/octet-stream' }

describe('POST /checkpoints', () => {
  it('stores any bytes and answers 201 with the PostResult; the payload round-trips exactly', async () => {
    const { app, calls } = build()
    const payload = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(4096)])
    const res = await app.inject({ method: 'POST', url: '/checkpoints?stream=owner/repo', headers: OCTETS, payload })
    expect(res.statusCode).toBe(201)
    const posted = res.json() as PostResult
    expect(posted).toMatchObject({ stream: 'owner/repo', seq: 1, parents: [], confirmedBy: [] })
    const input = calls[0]?.args[0] as PostInput
    expect(Buffer.from(input.payload).equals(payload)).toBe(true)
    expect(input.meta).toEqual({ size: payload.length, contentType: 'application/octet-stream' })
    expect(input.replicas).toBeUndefined()

    const latest = await app.inject({ method: 'GET', url: '/checkpoints/latest?stream=owner/repo' })
    expect(latest.statusCode).toBe(200)
    expect(latest.rawPayload.equals(payload)).toBe(true)
    expect(latest.headers['content-type']).toBe('application/octet-stream')
    expect(latest.headers['x-checkpoint-id']).toBe(posted.id)
    const byId = await app.inject({ method: 'GET', url: `/checkpoints/${posted.id}` })
    expect(byId.rawPayload.equals(payload)).toBe(true)
  })

  it('takes clear metadata from x-checkpoint-* headers, percent-decoded, and the content type', async () => {
    const { app, calls } = build()
    const res = await app.inject({
      method: 'POST',
      url: '/checkpoints?stream=notes&replicas=2',
      headers: {
        'content-type': 'text/markdown; charset=utf-8',
        'x-checkpoint-label': encodeURIComponent('résumé: 100% done'),
        'x-checkpoint-kind': 'notes',
        'x-checkpoint-meta-ticket': 'ABC-12',
        'X-Checkpoint-Meta-Build.Number': '42'
      },
      payload: '# hello\n'
    })
    expect(res.statusCode).toBe(201)
    expect(res.json().confirmedBy).toEqual(['peer-0', 'peer-1'])
    const input = calls[0]?.args[0] as PostInput
    expect(input.stream).toBe('notes')
    expect(input.replicas).toBe(2)
    expect(input.signal).toBeInstanceOf(AbortSignal)
    expect(input.meta).toEqual({
      label: 'résumé: 100% done',
      kind: 'notes',
      size: 8,
      contentType: 'text/markdown; charset=utf-8',
      // Header names are case-insensitive: keys arrive lower-case.
      user: { ticket: 'ABC-12', 'build.number': '42' }
    })
  })

  it('defaults the stream to `default` and accepts a body without a content type', async () => {
    const { app, calls } = build()
    const res = await app.inject({ method: 'POST', url: '/checkpoints', payload: Buffer.from('abc') })
    expect(res.statusCode).toBe(201)
    const input = calls[0]?.args[0] as PostInput
    expect(input.stream).toBe('default')
    expect(input.meta?.contentType).toBeUndefined()
    const latest = await app.inject({ method: 'GET', url: '/checkpoints/latest' })
    expect(latest.headers['content-type']).toBe('application/octet-stream')
    expect(latest.body).toBe('abc')
  })

  it('refuses bad input with a JSON error, and never calls the service', async () => {
    const { app, calls } = build(1024)
    const cases: Array<{ url: string, headers?: Record<string, string>, payload?: string | Buffer, status: number, code: string }> = [
      { url: '/checkpoints', headers: OCTETS, payload: Buffer.alloc(0), status: 400, code: 'CHECKPOINT_EMPTY' },
      { url: '/checkpoints', payload: '', status: 400, code: 'CHECKPOINT_EMPTY' },
      { url: '/checkpoints', headers: { 'content-type': 'application/json' }, payload: '', status: 400, code: 'CHECKPOINT_EMPTY' },
      { url: '/checkpoints', headers: OCTETS, payload: Buffer.alloc(1025, 1), status: 413, code: 'BODY_TOO_LARGE' },
      { url: '/checkpoints?stream=a//b', headers: OCTETS, payload: 'x', status: 400, code: 'CHECKPOINT_BAD_STREAM' },
      { url: '/checkpoints?stream=../etc', headers: OCTETS, payload: 'x', status: 400, code: 'CHECKPOINT_BAD_STREAM' },
      { url: '/checkpoints?stream=', headers: OCTETS, payload: 'x', status: 400, code: 'CHECKPOINT_BAD_STREAM' },
      { url: '/checkpoints?stream=sp%20ace', headers: OCTETS, payload: 'x', status: 400, code: 'CHECKPOINT_BAD_STREAM' },
      { url: '/checkpoints?replicas=-1', headers: OCTETS, payload: 'x', status: 400, code: 'REPLICAS_INVALID' },
      { url: '/checkpoints?replicas=1.5', headers: OCTETS, payload: 'x', status: 400, code: 'REPLICAS_INVALID' },
      { url: '/checkpoints?replicas=two', headers: OCTETS, payload: 'x', status: 400, code: 'REPLICAS_INVALID' },
      { url: '/checkpoints?replicas=', headers: OCTETS, payload: 'x', status: 400, code: 'REPLICAS_INVALID' },
      { url: '/checkpoints?replicas=99999999999999999999', headers: OCTETS, payload: 'x', status: 400, code: 'REPLICAS_INVALID' },
      { url: '/checkpoints?replicas=1&replicas=2', headers: OCTETS, payload: 'x', status: 400, code: 'BAD_REQUEST' },
      { url: '/checkpoints', headers: { ...OCTETS, 'x-checkpoint-label': '100%' }, payload: 'x', status: 400, code: 'CHECKPOINT_BAD_HEADER' },
      { url: '/checkpoints', headers: { ...OCTETS, 'x-checkpoint-meta-': 'v' }, payload: 'x', status: 400, code: 'CHECKPOINT_BAD_HEADER' }
    ]
    for (const c of cases) {
      const res = await app.inject({ method: 'POST', url: c.url, headers: c.headers ?? {}, ...(c.payload === undefined ? {} : { payload: c.payload }) })
      expect({ url: c.url, status: res.statusCode, code: res.json().error?.code }).toEqual({ url: c.url, status: c.status, code: c.code })
      expect(Object.keys(res.json())).toEqual(['error'])
      expect(typeof res.json().error.message).toBe('string')
    }
    expect(calls).toEqual([])
  })

  it('refuses a chunked body over the limit too', async () => {
    const { app, calls } = build(1024)
    await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      const address = app.server.address() as { port: number }
      const chunks = [Buffer.alloc(800, 1), Buffer.alloc(800, 2)]
      const body = new ReadableStream({ pull (controller) { const c = chunks.shift(); if (c === undefined) controller.close(); else controller.enqueue(c) } })
      const res = await fetch(`http://127.0.0.1:${address.port}/checkpoints`, { method: 'POST', headers: OCTETS, body, duplex: 'half' } as RequestInit)
      expect(res.status).toBe(413)
      expect((await res.json() as { error: { code: string } }).error.code).toBe('BODY_TOO_LARGE')
      expect(calls).toEqual([])
    } finally {
      await app.close()
    }
  })

  it('passes the service\'s own errors through unchanged', async () => {
    const { app, state } = build()
    state.failPost = new IdlemeshError('REPLICAS_UNAVAILABLE', 'replicas=3 but only 1 other node(s) are alive; nothing was stored', { status: 409 })
    const unavailable = await app.inject({ method: 'POST', url: '/checkpoints?replicas=3', headers: OCTETS, payload: 'x' })
    expect(unavailable.statusCode).toBe(409)
    expect(unavailable.json()).toEqual({ error: { code: 'REPLICAS_UNAVAILABLE', message: 'replicas=3 but only 1 other node(s) are alive; nothing was stored' } })
    state.failPost = new IdlemeshError('REPLICAS_TIMEOUT', 'only 1 of 2 confirmed', { status: 504 })
    const timeout = await app.inject({ method: 'POST', url: '/checkpoints?replicas=2', headers: OCTETS, payload: 'x' })
    expect(timeout.statusCode).toBe(504)
    expect(timeout.json().error.code).toBe('REPLICAS_TIMEOUT')
    state.failPost = new IdlemeshError('CHECKPOINT_BAD_META', 'meta.user key "a+b" must be 1-64 characters', { status: 400 })
    const meta = await app.inject({ method: 'POST', url: '/checkpoints', headers: { ...OCTETS, 'x-checkpoint-meta-a+b': 'v' }, payload: 'x' })
    expect(meta.statusCode).toBe(400)
    expect(meta.json().error.code).toBe('CHECKPOINT_BAD_META')
  })

  it('leaves JSON parsing of the app\'s other routes alone', async () => {
    const { app } = build(16)
    const ok = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ a: 1 }) })
    expect(ok.json()).toEqual({ got: { a: 1 } })
    const bad = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{nope' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.code).toBe('BAD_JSON')
    const other = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/x-whatever' }, payload: 'x' })
    expect(other.statusCode).toBe(415)
    // JSON sent to the checkpoint route is just bytes.
    const asBytes = await app.inject({ method: 'POST', url: '/checkpoints', headers: { 'content-type': 'application/json' }, payload: '{nope' })
    expect(asBytes.statusCode).toBe(201)
  })
})

describe('GET /checkpoints/latest and /checkpoints/:id', () => {
  async function seeded () {
    const b = build()
    const post = async (payload: string, headers: Record<string, string> = {}): Promise<PostResult> =>
      (await b.app.inject({ method: 'POST', url: '/checkpoints?stream=owner/repo', headers: { 'content-type': 'text/plain', ...headers }, payload })).json()
    const first = await post('one')
    const second = await post('two', { 'x-checkpoint-label': encodeURIComponent('zweite Ä'), 'x-checkpoint-meta-k': 'v' })
    b.calls.length = 0
    return { ...b, first, second }
  }

  it('by default sends the payload as the body and the header as x-checkpoint-* headers', async () => {
    const { app, first, second } = await seeded()
    const res = await app.inject({ method: 'GET', url: '/checkpoints/latest?stream=owner/repo' })
    expect(res.statusCode).toBe(200)
    expect(res.body).toBe('two')
    expect(res.headers['content-type']).toBe('text/plain')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.headers).toMatchObject({
      'x-checkpoint-id': second.id,
      'x-checkpoint-stream': 'owner/repo',
      'x-checkpoint-seq': '2',
      'x-checkpoint-parents': first.id,
      'x-checkpoint-author': FAKE_AUTHOR,
      'x-checkpoint-time': String(second.time),
      'x-checkpoint-key-id': 'k1',
      'x-checkpoint-size': String(second.size),
      'x-checkpoint-confirmed': 'true',
      'x-checkpoint-peers-asked': '3',
      'x-checkpoint-peers-answered': '2',
      'x-checkpoint-source': 'local'
    })
    // The meta header is JSON in ASCII: non-ASCII text is \u-escaped, and parses back.
    const metaHeader = res.headers['x-checkpoint-meta'] as string
    expect(metaHeader).toMatch(/^[\x20-\x7e]+$/)
    expect(JSON.parse(metaHeader)).toEqual({ label: 'zweite Ä', size: 3, contentType: 'text/plain', user: { k: 'v' } })
    const firstRes = await app.inject({ method: 'GET', url: `/checkpoints/${first.id}` })
    expect(firstRes.headers['x-checkpoint-parents']).toBe('')
    expect(firstRes.headers['x-checkpoint-confirmed']).toBeUndefined()
  })

  it('format=json gives the view, the payload in base64 and the confirmation', async () => {
    const { app, calls, second } = await seeded()
    const res = await app.inject({ method: 'GET', url: '/checkpoints/latest?stream=owner/repo&format=json&local=1' })
    expect(res.statusCode).toBe(200)
    const { confirmedBy: _, ...view } = second
    expect(res.json()).toEqual({ checkpoint: view, payload: Buffer.from('two').toString('base64'), payloadEncoding: 'base64', confirmed: false, peersAsked: 0, peersAnswered: 0, source: 'local' })
    expect(calls).toEqual([{ method: 'latest', args: ['owner/repo', { local: true }] }])
    const byId = await app.inject({ method: 'GET', url: `/checkpoints/${second.id}?format=json` })
    expect(byId.json()).toEqual({ checkpoint: view, payload: Buffer.from('two').toString('base64'), payloadEncoding: 'base64' })
  })

  it('asks peers unless local is set', async () => {
    const { app, calls } = await seeded()
    await app.inject({ method: 'GET', url: '/checkpoints/latest?stream=owner/repo&local=0' })
    await app.inject({ method: 'GET', url: '/checkpoints/latest?stream=owner/repo&local=true' })
    expect(calls.map(c => c.args[1])).toEqual([{}, { local: true }])
  })

  it('refuses bad queries and ids before the service, and passes its 404 through', async () => {
    const { app, calls } = await seeded()
    const bad: Array<[string, string]> = [
      ['/checkpoints/latest?stream=/x', 'CHECKPOINT_BAD_STREAM'],
      ['/checkpoints/latest?format=xml', 'FORMAT_INVALID'],
      ['/checkpoints/latest?local=maybe', 'LOCAL_INVALID'],
      ['/checkpoints/not-a-cid', 'CHECKPOINT_BAD_ID'],
      ['/checkpoints/verify?stream=a..b', 'CHECKPOINT_BAD_STREAM']
    ]
    for (const [url, code] of bad) {
      const res = await app.inject({ method: 'GET', url })
      expect({ url, status: res.statusCode, code: res.json().error.code }).toEqual({ url, status: 400, code })
    }
    expect(calls).toEqual([])
    const missing = await app.inject({ method: 'GET', url: '/checkpoints/latest?stream=nothing-here' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().error.code).toBe('CHECKPOINT_NOT_FOUND')
    const unknown = await app.inject({ method: 'GET', url: `/checkpoints/${fakeId('nope')}` })
    expect(unknown.statusCode).toBe(404)
  })

  it('never sends a malformed content type from metadata as a header', async () => {
    const { app, entries } = await seeded()
    const top = entries[1] as FakeEntry
    top.view = { ...top.view, meta: { ...top.view.meta, contentType: 'text/html\r\nset-cookie: x=1' } }
    const res = await app.inject({ method: 'GET', url: '/checkpoints/latest?stream=owner/repo' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/octet-stream')
    expect(res.headers['set-cookie']).toBeUndefined()
  })
})

describe('history, streams, verify', () => {
  it('GET /checkpoints lists newest first with limit (1..1000, default 50) and before', async () => {
    const { app, calls } = build()
    for (let i = 1; i <= 5; i++) await app.inject({ method: 'POST', url: '/checkpoints?stream=s', headers: OCTETS, payload: `p${i}` })
    calls.length = 0
    const all = await app.inject({ method: 'GET', url: '/checkpoints?stream=s' })
    expect(all.json().checkpoints.map((c: CheckpointView) => c.seq)).toEqual([5, 4, 3, 2, 1])
    expect(all.json().checkpoints[0]).not.toHaveProperty('payload')
    const page = await app.inject({ method: 'GET', url: '/checkpoints?stream=s&limit=2&before=4' })
    expect(page.json().checkpoints.map((c: CheckpointView) => c.seq)).toEqual([3, 2])
    expect(calls.map(c => c.args)).toEqual([['s', { limit: 50 }], ['s', { limit: 2, beforeSeq: 4 }]])
    calls.length = 0
    for (const q of ['limit=0', 'limit=1001', 'limit=ten', 'limit=-1', 'limit=2.5']) {
      const res = await app.inject({ method: 'GET', url: `/checkpoints?stream=s&${q}` })
      expect({ q, status: res.statusCode, code: res.json().error.code }).toEqual({ q, status: 400, code: 'LIMIT_INVALID' })
    }
    expect((await app.inject({ method: 'GET', url: '/checkpoints?stream=s&before=0' })).json().error.code).toBe('BEFORE_INVALID')
    expect((await app.inject({ method: 'GET', url: '/checkpoints?limit=1000' })).statusCode).toBe(200)
    expect(calls.map(c => c.args)).toEqual([['default', { limit: 1000 }]])
  })

  it('GET /streams lists the streams', async () => {
    const { app } = build()
    const a = (await app.inject({ method: 'POST', url: '/checkpoints?stream=a', headers: OCTETS, payload: 'x' })).json()
    const res = await app.inject({ method: 'GET', url: '/streams' })
    expect(res.json()).toEqual({ streams: [{ stream: 'a', count: 1, heads: 1, latest: { id: a.id, seq: 1 } }] })
  })

  it('GET /checkpoints/verify sends the chain report with CIDs as strings', async () => {
    const { app, state } = build()
    const posted = (await app.inject({ method: 'POST', url: '/checkpoints?stream=s', headers: OCTETS, payload: 'x' })).json()
    expect((await app.inject({ method: 'GET', url: '/checkpoints/verify?stream=s' })).json()).toEqual({ ok: true, checked: 1, problems: [] })
    state.broken = 's'
    const res = await app.inject({ method: 'GET', url: '/checkpoints/verify?stream=s' })
    const problem = { id: posted.id, parent: fakeId('gone'), reason: 'missing_parent', detail: `parent ${fakeId('gone')} is not stored` }
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ ok: false, checked: 1, firstBroken: problem, problems: [problem] })
  })

  it('GET /checkpoints/verify decrypts payloads only when asked (payloads=1)', async () => {
    const { app, calls } = build()
    await app.inject({ method: 'GET', url: '/checkpoints/verify?stream=s' })
    await app.inject({ method: 'GET', url: '/checkpoints/verify?stream=s&payloads=1' })
    expect(calls.filter(c => c.method === 'verify').map(c => c.args)).toEqual([['s', { payloads: false }], ['s', { payloads: true }]])
    const bad = await app.inject({ method: 'GET', url: '/checkpoints/verify?stream=s&payloads=maybe' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.code).toBe('PAYLOADS_INVALID')
  })

  it('an API token guards the checkpoint routes like every other', async () => {
    const fake = fakeService()
    const app = buildHttpApp({ logger: silentLogger() }, { token: 'a-long-enough-token', routes: [checkpointRoutes(fake.service)] })
    const res = await app.inject({ method: 'POST', url: '/checkpoints', headers: OCTETS, payload: 'x' })
    expect(res.statusCode).toBe(401)
    expect(fake.calls).toEqual([])
  })
})
