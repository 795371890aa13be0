import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stopAll, tempDirs, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { FAKE_PUBLISH } from '../runner/helpers.ts'
import { GITHUB_SECRET, githubDelivery, postWebhook } from '../events/helpers.ts'
import { runsFor, startTaskMesh, waitForStatus } from './helpers.ts'

function git (cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

const repository = (cloneUrl: string): Record<string, unknown> => ({ full_name: 'acme/widgets', name: 'widgets', owner: { login: 'acme' }, clone_url: cloneUrl })

describe('GitHub issue work', () => {
  let dirs: TempDirs
  let nodes: IdlemeshNode[] = []
  let bare: string
  beforeEach(() => {
    dirs = tempDirs()
    bare = dirs.dir('remote/acme/widgets.git')
    mkdirSync(bare, { recursive: true })
    git(bare, 'init', '--quiet', '--bare', '--initial-branch=main')
    const seed = dirs.dir('seed')
    mkdirSync(seed)
    git(seed, 'init', '--quiet', '--initial-branch=main')
    writeFileSync(join(seed, 'README.md'), 'widgets\n')
    git(seed, 'add', 'README.md')
    git(seed, 'commit', '--quiet', '-m', 'first')
    git(seed, 'remote', 'add', 'origin', bare)
    git(seed, 'push', '--quiet', 'origin', 'main')
  })
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    dirs.cleanup()
  })

  it('a routed issues.opened webhook works in a clone on branch issue-N and publishes; a comment resumes the session', async () => {
    const mesh = await startTaskMesh(dirs, 2, () => ({
      workspaces: { publish: [process.execPath, FAKE_PUBLISH, '{branch}', '--title', '{title}'], cloneUrl: join(dirs.root, 'remote', '{owner}', '{repo}.git') }
    }), () => ({
      webhooks: { sources: { gh: { scheme: 'github', secrets: [GITHUB_SECRET] } } },
      events: { startupSettleMs: 200, claimSettleMs: 20, syncIntervalMs: 1000 }
    }))
    nodes = mesh.nodes
    const [a, b] = nodes as [IdlemeshNode, IdlemeshNode]
    const opened = await githubDelivery('issues', {
      action: 'opened',
      issue: { number: 7, title: 'Widgets squeak', body: 'They squeak when turned.', user: { login: 'alice' }, html_url: 'https://github.com/acme/widgets/issues/7' },
      repository: repository(bare),
      sender: { login: 'alice', type: 'User' }
    })
    const accepted = await postWebhook(a.httpUrl, '/webhook/gh', opened)
    expect(accepted.status).toBe(202)
    const first = await waitFor(() => a.tasks.list().find(t => t.conversation === 'acme/widgets#7'), { timeoutMs: 15_000, what: 'the task from the webhook' })
    expect(first.origin).toMatchObject({ kind: 'event', source: 'gh', eventId: opened.id })
    const done = await waitForStatus(a, first.id, ['succeeded', 'failed', 'dead'], 20_000)
    expect(done.status, JSON.stringify(done.attempts)).toBe('succeeded')
    expect(done.issue).toMatchObject({ owner: 'acme', repo: 'widgets', number: 7 })
    expect(done.stream).toBe('acme/widgets')
    const attempt = done.attempts[0]
    const ws = join(dirs.dir(a.peerId === attempt?.node ? 'node0-ws' : 'node1-ws'), 'acme', 'widgets', 'issue-7')
    expect(attempt?.cwd).toBe(ws)
    expect(git(ws, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('issue-7')
    // The prompt carried the issue, and the publish command pushed the branch to the remote.
    const [run] = runsFor(mesh.record, 'Widgets squeak')
    expect(run?.prompt).toContain('They squeak when turned.')
    expect(run?.cwd).toBe(ws)
    expect(attempt?.publish?.ok).toBe(true)
    expect(JSON.parse(attempt?.publish?.output ?? '{}')).toMatchObject({ branch: 'issue-7', args: ['--title', 'Work on acme/widgets#7'] })
    expect(git(bare, 'branch', '--list', 'issue-7')).toContain('issue-7')

    // A follow-up comment, delivered to the other node, resumes the session in the same clone.
    const comment = await githubDelivery('issue_comment', {
      action: 'created',
      issue: { number: 7, title: 'Widgets squeak', user: { login: 'alice' } },
      comment: { body: 'Also the blue ones, please.', user: { login: 'bob' }, html_url: 'https://github.com/acme/widgets/issues/7#c1' },
      repository: repository(bare),
      sender: { login: 'bob', type: 'User' }
    })
    expect((await postWebhook(b.httpUrl, '/webhook/gh', comment)).status).toBe(202)
    const second = await waitFor(() => b.tasks.list().find(t => t.conversation === 'acme/widgets#7' && t.id !== first.id), { timeoutMs: 15_000, what: 'the follow-up task' })
    const followed = await waitForStatus(b, second.id, ['succeeded', 'failed', 'dead'], 20_000)
    expect(followed.status).toBe('succeeded')
    expect(followed.node).toBe(attempt?.node)
    expect(followed.attempts[0]?.resumed).toBe(done.sessionId)
    expect(followed.attempts[0]?.cwd).toBe(ws)
    const [run2] = runsFor(mesh.record, 'Also the blue ones')
    expect(run2?.argv).toContain('--resume')
    // The same delivery again is the same event: no second task.
    expect((await postWebhook(a.httpUrl, '/webhook/gh', comment)).status).toBe(200)
    expect(a.tasks.list({ conversation: 'acme/widgets#7' })).toHaveLength(2)
  })

  it('a task submitted with an issue carries its title, body and comments in the prompt', async () => {
    const mesh = await startTaskMesh(dirs, 1, () => ({ workspaces: { cloneUrl: join(dirs.root, 'remote', '{owner}', '{repo}.git') } }))
    nodes = mesh.nodes
    const node = nodes[0] as IdlemeshNode
    await node.tasks.submit({
      id: 'issue-direct',
      prompt: 'Fix it.',
      repo: bare,
      issue: { owner: 'acme', repo: 'widgets', number: 9, title: 'Gears grind', body: 'Loud grinding.', comments: [{ author: 'carol', body: 'Only in winter.' }] }
    })
    const done = await waitForStatus(node, 'issue-direct', ['succeeded', 'failed', 'dead'])
    expect(done.status).toBe('succeeded')
    const [run] = runsFor(mesh.record, 'Fix it.')
    expect(run?.prompt).toContain('GitHub issue acme/widgets#9: Gears grind')
    expect(run?.prompt).toContain('Loud grinding.')
    expect(run?.prompt).toContain('- carol: Only in winter.')
    expect(run?.cwd.endsWith(join('acme', 'widgets', 'issue-9'))).toBe(true)
  })
})
