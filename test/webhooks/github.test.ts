import { randomUUID } from 'node:crypto'
import { describe, it, expect } from 'vitest'
import { sign } from '@octokit/webhooks-methods'
import { createRouter, ingestWebhook, webhooksConfigSchema, type RoutingDecision, type WebhooksConfigInput } from '../../src/webhooks/index.ts'
import { githubExample, type Payload } from './helpers.ts'

const SECRET = 'gh-secret'
const NOW = Date.parse('2025-06-01T12:00:00Z')

function configure (extra: Partial<WebhooksConfigInput> = {}) {
  return webhooksConfigSchema.parse({ sources: { github: { scheme: 'github', secrets: [SECRET] } }, ...extra })
}

/** Sends a published GitHub payload through ingestion and routing, signed as GitHub signs it. */
async function deliver (event: string, payload: Payload, extra: Partial<WebhooksConfigInput> = {}): Promise<RoutingDecision> {
  const config = configure(extra)
  const body = JSON.stringify(payload)
  const headers = {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': randomUUID(),
    'x-hub-signature-256': await sign(SECRET, body)
  }
  const delivery = ingestWebhook(config, { source: 'github', headers, rawBody: Buffer.from(body), now: NOW })
  expect(delivery.event.provider).toBe('github')
  return createRouter(config).route(delivery)
}

describe('GitHub defaults on published payloads', () => {
  it('issues.opened starts a task on the issue, in a clone, under the key owner/repo#N', async () => {
    const payload = githubExample('issues', p => p.action === 'opened')
    const decision = await deliver('issues', payload)
    expect(decision.rule).toBe('github.issues.opened')
    expect(decision.skipped).toBeUndefined()
    expect(decision.actions).toHaveLength(1)
    const [task] = decision.actions
    expect(task).toMatchObject({
      kind: 'task',
      repo: 'https://github.com/Codertocat/Hello-World.git',
      conversation: 'Codertocat/Hello-World#1',
      branch: 'issue-1'
    })
    const prompt = task?.kind === 'task' ? task.prompt : ''
    expect(prompt).toContain('Codertocat/Hello-World#1')
    expect(prompt).toContain(payload.issue.title)
    expect(prompt).toContain(payload.issue.body)
  })

  it("issue_comment.created by a person follows up on the issue's conversation", async () => {
    const payload = githubExample('issue_comment', p => p.action === 'created')
    const decision = await deliver('issue_comment', payload)
    expect(decision.rule).toBe('github.issue_comment.created')
    expect(decision.actions[0]).toMatchObject({ kind: 'task', conversation: 'Codertocat/Hello-World#1', branch: 'issue-1' })
    const prompt = decision.actions[0]?.kind === 'task' ? decision.actions[0].prompt : ''
    expect(prompt).toContain(payload.comment.body)
  })

  it('issue_comment.created by a bot is skipped, with the reason', async () => {
    // GitHub's published comments are all by people; a GitHub App's comment differs in sender.
    const payload = githubExample('issue_comment', p => p.action === 'created')
    payload.sender = { ...payload.sender, login: 'idlemesh[bot]', type: 'Bot' }
    const decision = await deliver('issue_comment', payload)
    expect(decision).toEqual({ rule: 'github.issue_comment.bot', actions: [], skipped: expect.stringContaining('bot') })
  })

  it('issue_comment.created by a login listed in github.botLogins is skipped', async () => {
    const payload = githubExample('issue_comment', p => p.action === 'created')
    const decision = await deliver('issue_comment', payload, { github: { botLogins: [payload.sender.login] } })
    expect(decision.rule).toBe('github.issue_comment.bot-login')
    expect(decision.actions).toEqual([])
    expect(decision.skipped).toContain('botLogins')
  })

  it('issue_comment.created on a pull request is skipped', async () => {
    const payload = githubExample('issue_comment', p => p.action === 'created')
    // The links GitHub puts in issue.pull_request when the "issue" is a pull request.
    const pr = githubExample('pull_request', p => p.action === 'opened').pull_request
    payload.issue.pull_request = { url: pr.url, html_url: pr.html_url, diff_url: pr.diff_url, patch_url: pr.patch_url }
    const decision = await deliver('issue_comment', payload)
    expect(decision).toEqual({ rule: 'github.issue_comment.pull-request', actions: [], skipped: expect.stringContaining('pull request') })
  })

  it('a configured issue_comment rule at the default priority is still guarded against bots', async () => {
    const payload = githubExample('issue_comment', p => p.action === 'created')
    payload.sender.type = 'Bot'
    const custom = { rules: [{ name: 'mine', match: { provider: 'github' as const, type: 'issue_comment.created' }, actions: [{ kind: 'noop' as const }] }] }
    expect((await deliver('issue_comment', payload, custom)).rule).toBe('github.issue_comment.bot')
    payload.sender.type = 'User'
    expect((await deliver('issue_comment', payload, custom)).rule).toBe('mine')
  })

  it('push checkpoints the stream owner/repo with a summary of the push', async () => {
    const payload = githubExample('push', p => p.commits.length === 1 && p.head_commit !== null)
    const decision = await deliver('push', payload)
    expect(decision.rule).toBe('github.push')
    const [checkpoint] = decision.actions
    expect(checkpoint).toMatchObject({ kind: 'checkpoint', stream: 'Codertocat/Hello-World', label: `push ${payload.ref}` })
    const message = checkpoint?.kind === 'checkpoint' ? checkpoint.message : ''
    expect(message).toContain(payload.ref)
    expect(message).toContain(`${payload.before} -> ${payload.after}`)
    expect(message).toContain('Commits: 1')
    expect(message).toContain('Head commit: Initial commit')
  })

  it('a tag push without a head commit still checkpoints, the missing field rendered empty', async () => {
    const payload = githubExample('push', p => p.head_commit === null)
    const decision = await deliver('push', payload)
    expect(decision.actions[0]).toMatchObject({ kind: 'checkpoint', stream: 'Codertocat/Hello-World' })
    const message = decision.actions[0]?.kind === 'checkpoint' ? decision.actions[0].message : ''
    expect(message).toContain('Commits: 0')
    expect(message).toMatch(/Head commit: \n/)
  })

  it('ping is a recorded noop', async () => {
    const decision = await deliver('ping', githubExample('ping', p => p.repository !== undefined))
    expect(decision).toEqual({ rule: 'github.ping', actions: [{ kind: 'noop' }] })
  })

  it('pull_request and release have no built-in action but are routable by rules', async () => {
    const opened = githubExample('pull_request', p => p.action === 'opened')
    expect((await deliver('pull_request', opened)).rule).toBe('none')
    const released = githubExample('release', p => p.action === 'published')
    const rules = {
      rules: [
        { name: 'review', match: { provider: 'github' as const, type: 'pull_request.opened' }, actions: [{ kind: 'task' as const, prompt: 'Review {{ payload.pull_request.html_url }}', conversation: '{{ event.repo }}#{{ payload.number }}' }] },
        { name: 'releases', match: { provider: 'github' as const, type: 'release.*', where: [{ path: 'payload.release.prerelease', equals: false }] }, actions: [{ kind: 'checkpoint' as const, stream: '{{ event.repo }}', label: 'release {{ payload.release.tag_name }}' }] }
      ]
    }
    const review = await deliver('pull_request', opened, rules)
    expect(review).toEqual({ rule: 'review', actions: [{ kind: 'task', prompt: `Review ${opened.pull_request.html_url}`, conversation: `${opened.repository.full_name}#${opened.number}` }] })
    const release = await deliver('release', released, rules)
    expect(release).toEqual({ rule: 'releases', actions: [{ kind: 'checkpoint', stream: released.repository.full_name, label: `release ${released.release.tag_name}` }] })
  })

  it('a configured rule replaces the built-in rule of the same name', async () => {
    const payload = githubExample('push', p => p.commits.length === 1)
    const decision = await deliver('push', payload, { rules: [{ name: 'github.push', match: { provider: 'github', type: 'push' }, actions: [{ kind: 'noop' }] }] })
    expect(decision).toEqual({ rule: 'github.push', actions: [{ kind: 'noop' }] })
  })

  it("accepts GitHub's form content type, signed over the form bytes", async () => {
    const payload = githubExample('issues', p => p.action === 'opened')
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString()
    const delivery = ingestWebhook(configure(), {
      source: 'github',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-github-event': 'issues', 'x-hub-signature-256': await sign(SECRET, body) },
      rawBody: Buffer.from(body),
      now: NOW
    })
    expect(delivery.payload).toEqual(payload)
    expect(delivery.event.type).toBe('issues.opened')
  })
})
