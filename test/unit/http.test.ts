import { describe, expect, it } from 'vitest'
import { buildHttpApp } from '../../src/http/index.ts'
import { IdlemeshError } from '../../src/errors.ts'
import { silentLogger } from '../../src/logger.ts'

function app (token?: string): ReturnType<typeof buildHttpApp> {
  return buildHttpApp({ logger: silentLogger() }, {
    ...(token === undefined ? {} : { token }),
    bodyLimitBytes: 16,
    routes: [(a) => {
      a.get('/thing', async () => ({ ok: true }))
      a.post('/thing', async () => ({ ok: true }))
      a.get('/teapot', async () => { throw new IdlemeshError('TEAPOT', 'short and stout', { status: 418 }) })
      a.get('/boom', async () => { throw new Error('secret internals') })
      a.post('/webhook/:source', async () => ({ accepted: true }))
    }]
  })
}

describe('HTTP API edge', () => {
  it('serialises typed errors as {error:{code,message}} with their status, never a stack', async () => {
    const res = await app().inject({ method: 'GET', url: '/teapot' })
    expect(res.statusCode).toBe(418)
    expect(res.json()).toEqual({ error: { code: 'TEAPOT', message: 'short and stout' } })
    const boom = await app().inject({ method: 'GET', url: '/boom' })
    expect(boom.statusCode).toBe(500)
    expect(boom.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error; see the node log' } })
    expect(boom.body).not.toContain('secret internals')
  })

  it('unknown routes, bad JSON and oversized bodies get JSON errors', async () => {
    const a = app()
    expect((await a.inject({ method: 'GET', url: '/nope' })).json().error.code).toBe('NOT_FOUND')
    const bad = await a.inject({ method: 'POST', url: '/thing', headers: { 'content-type': 'application/json' }, payload: '{nope' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.code).toBe('BAD_JSON')
    const big = await a.inject({ method: 'POST', url: '/thing', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ x: 'y'.repeat(100) }) })
    expect(big.statusCode).toBe(413)
    expect(big.json().error.code).toBe('BODY_TOO_LARGE')
  })

  it('with a token, every route but webhooks requires Authorization: Bearer <token>', async () => {
    const a = app('0123456789abcdef-token')
    expect((await a.inject({ method: 'GET', url: '/thing' })).statusCode).toBe(401)
    expect((await a.inject({ method: 'GET', url: '/thing', headers: { authorization: 'Bearer wrong' } })).json().error.code).toBe('UNAUTHORIZED')
    expect((await a.inject({ method: 'GET', url: '/thing', headers: { authorization: 'Bearer 0123456789abcdef-token' } })).statusCode).toBe(200)
    expect((await a.inject({ method: 'POST', url: '/webhook/github', payload: {} })).statusCode).toBe(200)
    // A path that merely starts with the same letters is not a webhook route.
    expect((await a.inject({ method: 'GET', url: '/webhooks-admin' })).statusCode).toBe(401)
  })
})
