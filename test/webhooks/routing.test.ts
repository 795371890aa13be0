import { describe, it, expect } from 'vitest'
import { createRouter, renderTemplate, globMatch, webhooksConfigSchema, type RouteInput, type WebhooksConfigInput } from '../../src/webhooks/index.ts'

function router (config: WebhooksConfigInput): ReturnType<typeof createRouter> {
  return createRouter(webhooksConfigSchema.parse(config))
}

function input (type: string, payload: unknown, provider: RouteInput['event']['provider'] = 'generic', source = 'ci'): RouteInput {
  return { source, id: 'ev-1', event: { provider, type, summary: type }, payload }
}

const note = (text: string) => ({ kind: 'checkpoint' as const, stream: 'notes', label: text })

describe('rule order', () => {
  it('tries rules by ascending priority, then in file order; the first match wins', () => {
    const r = router({
      rules: [
        { name: 'late', priority: 200, match: { type: 'build.*' }, actions: [note('late')] },
        { name: 'first-listed', match: { type: 'build.done' }, actions: [note('first-listed')] },
        { name: 'second-listed', match: { type: 'build.done' }, actions: [note('second-listed')] },
        { name: 'early', priority: 5, match: { type: 'build.failed' }, actions: [note('early')] }
      ]
    })
    expect(r.route(input('build.done', {})).rule).toBe('first-listed')
    expect(r.route(input('build.failed', {})).rule).toBe('early')
    expect(r.route(input('build.started', {})).rule).toBe('late')
  })

  it("falls back to the provider's defaults, then to noop", () => {
    const r = router({ defaults: { stripe: [{ kind: 'checkpoint', stream: 'billing', label: '{{ event.type }}' }] } })
    expect(r.route(input('invoice.paid', {}, 'stripe'))).toEqual({ rule: 'default', actions: [{ kind: 'checkpoint', stream: 'billing', label: 'invoice.paid' }] })
    expect(r.route(input('anything', {}, 'generic'))).toEqual({ rule: 'none', actions: [{ kind: 'noop' }] })
  })

  it('matches on source, provider and a list of type globs', () => {
    const r = router({
      rules: [
        { name: 'from-ci', match: { source: 'ci', provider: 'generic', type: ['deploy.*', 'release'] }, actions: [{ kind: 'noop' }] }
      ]
    })
    expect(r.route(input('deploy.done', {})).rule).toBe('from-ci')
    expect(r.route(input('release', {})).rule).toBe('from-ci')
    expect(r.route(input('releases', {})).rule).toBe('none')
    expect(r.route(input('deploy.done', {}, 'generic', 'other')).rule).toBe('none')
    expect(r.route(input('deploy.done', {}, 'standard')).rule).toBe('none')
  })

  it('returns a skip rule with its reason and no actions', () => {
    const r = router({ rules: [{ name: 'quiet', match: { type: 'noise' }, skip: 'too noisy' }] })
    expect(r.route(input('noise', {}))).toEqual({ rule: 'quiet', actions: [], skipped: 'too noisy' })
  })
})

describe('conditions', () => {
  function decide (where: unknown[], payload: unknown): string {
    const r = router({ rules: [{ name: 'hit', match: { where } as never, actions: [{ kind: 'noop' }] }] })
    return r.route(input('t', payload)).rule
  }

  it('equals compares strictly, numbers, booleans and null included', () => {
    expect(decide([{ path: 'payload.a.b', equals: 'x' }], { a: { b: 'x' } })).toBe('hit')
    expect(decide([{ path: 'payload.a.b', equals: 'x' }], { a: { b: 'y' } })).toBe('none')
    expect(decide([{ path: 'payload.n', equals: 3 }], { n: 3 })).toBe('hit')
    expect(decide([{ path: 'payload.n', equals: 3 }], { n: '3' })).toBe('none')
    expect(decide([{ path: 'payload.f', equals: false }], { f: false })).toBe('hit')
    expect(decide([{ path: 'payload.z', equals: null }], { z: null })).toBe('hit')
    expect(decide([{ path: 'payload.z', equals: null }], {})).toBe('none')
  })

  it('oneOf holds when the value equals any entry', () => {
    expect(decide([{ path: 'payload.login', oneOf: ['a', 'b'] }], { login: 'b' })).toBe('hit')
    expect(decide([{ path: 'payload.login', oneOf: ['a', 'b'] }], { login: 'c' })).toBe('none')
    expect(decide([{ path: 'payload.login', oneOf: [] }], { login: 'c' })).toBe('none')
  })

  it('glob matches text with * and ?, numbers and booleans as text, never objects', () => {
    expect(decide([{ path: 'payload.ref', glob: 'refs/heads/*' }], { ref: 'refs/heads/feature/x' })).toBe('hit')
    expect(decide([{ path: 'payload.ref', glob: 'refs/heads/*' }], { ref: 'refs/tags/v1' })).toBe('none')
    expect(decide([{ path: 'payload.v', glob: 'v?.0' }], { v: 'v2.0' })).toBe('hit')
    expect(decide([{ path: 'payload.n', glob: '4*' }], { n: 42 })).toBe('hit')
    expect(decide([{ path: 'payload.o', glob: '*' }], { o: { a: 1 } })).toBe('none')
    expect(decide([{ path: 'payload.o', glob: '*' }], {})).toBe('none')
  })

  it('exists: true holds for present non-null values, exists: false for the rest', () => {
    expect(decide([{ path: 'payload.issue.pull_request', exists: true }], { issue: { pull_request: { url: 'u' } } })).toBe('hit')
    expect(decide([{ path: 'payload.issue.pull_request', exists: true }], { issue: {} })).toBe('none')
    expect(decide([{ path: 'payload.issue.pull_request', exists: true }], { issue: { pull_request: null } })).toBe('none')
    expect(decide([{ path: 'payload.issue.pull_request', exists: false }], { issue: {} })).toBe('hit')
    expect(decide([{ path: 'payload.empty', exists: true }], { empty: '' })).toBe('hit')
  })

  it('requires every condition to hold, and can look at the event as well as the payload', () => {
    const where = [{ path: 'event.source', equals: 'ci' }, { path: 'payload.ok', equals: true }]
    expect(decide(where, { ok: true })).toBe('hit')
    expect(decide(where, { ok: false })).toBe('none')
  })

  it('indexes arrays and never reaches Object.prototype', () => {
    expect(decide([{ path: 'payload.commits.0.id', equals: 'c1' }], { commits: [{ id: 'c1' }] })).toBe('hit')
    expect(decide([{ path: 'payload.commits.length', equals: 1 }], { commits: [{ id: 'c1' }] })).toBe('hit')
    expect(decide([{ path: 'payload.constructor', exists: true }], {})).toBe('none')
    expect(decide([{ path: 'payload.__proto__', exists: true }], {})).toBe('none')
  })
})

describe('templates', () => {
  const scope = { event: { repo: 'o/r', id: 7 }, payload: { issue: { number: 42, title: 'T', labels: ['bug'] }, flag: true, none: null } }

  it('renders dotted paths with or without spaces', () => {
    expect(renderTemplate('{{ event.repo }}#{{payload.issue.number}}: {{  payload.issue.title  }}', scope)).toBe('o/r#42: T')
  })

  it('renders missing fields and null as empty text', () => {
    expect(renderTemplate('[{{ payload.issue.body }}][{{ payload.nope.deeper }}][{{ payload.none }}]', scope)).toBe('[][][]')
  })

  it('renders numbers and booleans as text and objects as JSON', () => {
    expect(renderTemplate('{{ event.id }} {{ payload.flag }} {{ payload.issue.labels }}', scope)).toBe('7 true ["bug"]')
  })

  it('never evaluates anything, nor renders placeholders that come from the payload', () => {
    const sneaky = { payload: { title: '{{ payload.secret }}', secret: 's3cret' } }
    expect(renderTemplate('{{ payload.title }}', sneaky)).toBe('{{ payload.secret }}')
    expect(renderTemplate('{{ payload.constructor.name }} {{ process.env.HOME }}', sneaky)).toBe(' ')
    expect(renderTemplate('{{ 1 + 1 }} {{ payload.title | upper }}', sneaky)).toBe('{{ 1 + 1 }} {{ payload.title | upper }}')
  })

  it('renders every action field that is a template, and omits optional ones that render blank', () => {
    const r = router({
      rules: [{
        name: 'work',
        match: { type: 'job' },
        actions: [
          { kind: 'task', prompt: 'Do {{ payload.what }}', repo: '{{ payload.repo }}', conversation: 'c-{{ payload.n }}', branch: '{{ payload.missing }}' },
          { kind: 'checkpoint', stream: 's/{{ payload.n }}', message: '{{ payload.what }}' }
        ]
      }]
    })
    expect(r.route(input('job', { what: 'it', n: 3 }))).toEqual({
      rule: 'work',
      actions: [
        { kind: 'task', prompt: 'Do it', conversation: 'c-3' },
        { kind: 'checkpoint', stream: 's/3', message: 'it' }
      ]
    })
  })

  it('skips, with the reason, when a required field renders empty', () => {
    const r = router({ rules: [{ name: 'cp', match: { type: 'job' }, actions: [{ kind: 'noop' }, { kind: 'checkpoint', stream: '{{ payload.repo }}' }] }] })
    expect(r.route(input('job', {}))).toEqual({ rule: 'cp', actions: [], skipped: 'action 2 (checkpoint): stream rendered empty' })
  })

  it('passes command actions through with their fixed argv', () => {
    const r = router({
      commands: { allowed: ['/usr/local/bin/notify'] },
      rules: [{ name: 'cmd', match: { type: 'job' }, actions: [{ kind: 'command', argv: ['/usr/local/bin/notify', '{{ payload.x }}'] }] }]
    })
    expect(r.route(input('job', { x: 'y' })).actions).toEqual([{ kind: 'command', argv: ['/usr/local/bin/notify', '{{ payload.x }}'], timeoutMs: 60_000 }])
  })
})

describe('globMatch', () => {
  it('matches whole strings with * and ?', () => {
    expect(globMatch('issues.*', 'issues.opened')).toBe(true)
    expect(globMatch('issues.*', 'issues')).toBe(false)
    expect(globMatch('issues.*', 'issue_comment.created')).toBe(false)
    expect(globMatch('*', '')).toBe(true)
    expect(globMatch('a*b*c', 'axxbyyc')).toBe(true)
    expect(globMatch('a*b*c', 'axxbyy')).toBe(false)
    expect(globMatch('?', 'ab')).toBe(false)
    expect(globMatch('exact', 'exact')).toBe(true)
  })

  it('stays fast on patterns that make backtracking regexes explode', () => {
    const text = 'a'.repeat(20_000)
    const started = performance.now()
    expect(globMatch('*a*a*a*a*a*a*b', text)).toBe(false)
    expect(performance.now() - started).toBeLessThan(2000)
  })
})
