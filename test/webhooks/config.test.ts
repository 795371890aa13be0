import { describe, it, expect } from 'vitest'
import { DEDUPE_MARGIN_MS, resolveSource, webhooksConfigSchema } from '../../src/webhooks/index.ts'
import { expectWebhookError } from './helpers.ts'

function issuesOf (input: unknown): string[] {
  const result = webhooksConfigSchema.safeParse(input)
  return result.success ? [] : result.error.issues.map(i => `${i.path.join('.')}: ${i.message}`)
}

const STANDARD_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'

describe('webhooks config', () => {
  it('works with nothing configured, with documented defaults', () => {
    expect(webhooksConfigSchema.parse({})).toEqual({
      bodyLimitBytes: 1024 * 1024,
      refuseUnknownSources: true,
      dedupeRetentionMs: 7 * 24 * 3600 * 1000,
      sources: {},
      rules: [],
      defaults: {},
      github: { botLogins: [] },
      commands: { allowed: [] }
    })
  })

  it('fills source defaults: 300 s tolerance, no replica acks', () => {
    expect(webhooksConfigSchema.parse({ sources: { gh: { scheme: 'github', secrets: ['s'] } } }).sources.gh).toEqual({
      scheme: 'github', secrets: ['s'], toleranceSeconds: 300, ackReplicas: 0
    })
  })

  it("requires the scheme to be written out, 'none' included", () => {
    expect(issuesOf({ sources: { open: {} } })[0]).toMatch(/^sources\.open\.scheme: /)
    expect(issuesOf({ sources: { open: { scheme: 'none' } } })).toEqual([])
  })

  it("requires a secret for every signing scheme and none for 'none'", () => {
    expect(issuesOf({ sources: { gh: { scheme: 'github' } } })).toEqual(["sources.gh.secrets: scheme 'github' needs at least one secret"])
    expect(issuesOf({ sources: { gh: { scheme: 'github', secrets: [] } } })).toHaveLength(1)
    expect(issuesOf({ sources: { open: { scheme: 'none', secrets: ['x'] } } })[0]).toMatch(/^sources\.open\.secrets: scheme 'none' checks no signature/)
  })

  it('checks the form of Standard Webhooks and Stripe secrets', () => {
    expect(issuesOf({ sources: { s: { scheme: 'standard', secrets: [STANDARD_SECRET] } } })).toEqual([])
    expect(issuesOf({ sources: { s: { scheme: 'standard', secrets: [STANDARD_SECRET, 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] } } })[0]).toMatch(/^sources\.s\.secrets\.1: .*whsec_/)
    expect(issuesOf({ sources: { s: { scheme: 'standard', secrets: ['whsec_not base64!'] } } })).toHaveLength(1)
    expect(issuesOf({ sources: { p: { scheme: 'stripe', secrets: ['sk_live_123'] } } })[0]).toMatch(/^sources\.p\.secrets\.0: .*API key/)
  })

  it('refuses source names that cannot be one URL path segment', () => {
    expect(issuesOf({ sources: { 'a/b': { scheme: 'none' } } })).toHaveLength(1)
    expect(issuesOf({ sources: { '': { scheme: 'none' } } })).toHaveLength(1)
    expect(issuesOf({ sources: { 'git-hub_2.x': { scheme: 'none' } } })).toEqual([])
  })

  it('refuses unknown keys, so a typo does not silently fall back to a default', () => {
    expect(issuesOf({ sources: { gh: { scheme: 'github', secrets: ['s'], tolerance: 10 } } })[0]).toMatch(/tolerance/)
    expect(issuesOf({ refuseUnknownSource: false })[0]).toMatch(/refuseUnknownSource/)
  })

  it('requires dedupe retention to outlast twice the largest tolerance plus the margin', () => {
    const sources = { s: { scheme: 'standard', secrets: [STANDARD_SECRET], toleranceSeconds: 3600 } }
    const minimum = 2 * 3600 * 1000 + DEDUPE_MARGIN_MS
    expect(issuesOf({ sources, dedupeRetentionMs: minimum })).toEqual([])
    const [issue] = issuesOf({ sources, dedupeRetentionMs: minimum - 1 })
    expect(issue).toMatch(new RegExp(`^dedupeRetentionMs: must be at least ${minimum} ms`))
    expect(issuesOf({ dedupeRetentionMs: DEDUPE_MARGIN_MS - 1 })).toHaveLength(1)
  })

  it('validates rules: one operator per condition, actions or skip, unique names, templates', () => {
    const rule = (fields: Record<string, unknown>) => ({ rules: [{ name: 'r', actions: [{ kind: 'noop' }], ...fields }] })
    expect(issuesOf(rule({ match: { where: [{ path: 'payload.a', equals: 1, glob: '*' }] } }))[0]).toMatch(/exactly one of equals, oneOf, glob or exists/)
    expect(issuesOf(rule({ match: { where: [{ path: 'payload.a' }] } }))[0]).toMatch(/exactly one of/)
    expect(issuesOf(rule({ match: { where: [{ path: 'payload..a', exists: true }] } }))[0]).toMatch(/dotted path/)
    expect(issuesOf(rule({ skip: 'reason' }))[0]).toMatch(/either actions or skip/)
    expect(issuesOf({ rules: [{ name: 'r' }] })[0]).toMatch(/either actions or skip/)
    expect(issuesOf({ rules: [{ name: 'r', skip: 'a' }, { name: 'r', skip: 'b' }] })[0]).toMatch(/^rules\.1\.name: .*used twice/)
    expect(issuesOf(rule({ actions: [{ kind: 'task', prompt: 'Fix {{ payload.issue.title | upper }}' }] }))[0]).toMatch(/^rules\.0\.actions\.0\.prompt: .*dotted path/)
    expect(issuesOf(rule({ actions: [{ kind: 'launch' }] }))).toHaveLength(1)
  })

  it('lets a command action run only an executable listed in commands.allowed', () => {
    const rules = [{ name: 'r', actions: [{ kind: 'command', argv: ['/opt/hooks/deploy', '--dry-run'] }] }]
    expect(issuesOf({ rules })).toEqual(["rules.0.actions.0.argv.0: '/opt/hooks/deploy' is not in webhooks.commands.allowed; add it there to let rules run it"])
    expect(issuesOf({ rules, commands: { allowed: ['/opt/hooks/deploy'] } })).toEqual([])
    expect(issuesOf({ defaults: { generic: [{ kind: 'command', argv: ['sh', '-c', 'x'] }] } })[0]).toMatch(/^defaults\.generic\.0\.argv\.0: 'sh'/)
  })
})

describe('resolveSource', () => {
  const config = webhooksConfigSchema.parse({ sources: { gh: { scheme: 'github', secrets: ['s'] } } })

  it('finds a configured source', () => {
    expect(resolveSource(config, 'gh').scheme).toBe('github')
  })

  it('refuses an unknown source with 404, names inherited from Object included', () => {
    expectWebhookError(() => resolveSource(config, 'gitlab'), 'WEBHOOK_UNKNOWN_SOURCE')
    expectWebhookError(() => resolveSource(config, 'constructor'), 'WEBHOOK_UNKNOWN_SOURCE')
    expectWebhookError(() => resolveSource(config, '__proto__'), 'WEBHOOK_UNKNOWN_SOURCE')
  })

  it('accepts an unknown source unsigned only when told to', () => {
    const open = webhooksConfigSchema.parse({ refuseUnknownSources: false })
    expect(resolveSource(open, 'anything')).toMatchObject({ scheme: 'none', secrets: [] })
  })
})
