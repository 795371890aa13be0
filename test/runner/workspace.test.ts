import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { silentLogger } from '../../src/logger.ts'
import { createWorkspaces, renderArgv, type WorkspacesInit } from '../../src/runner/index.ts'
import { FAKE_PUBLISH, makeTempDir } from './helpers.ts'

let temp: { dir: string, remove: () => Promise<void> }
let root: string
let seed: string
let remoteOf: (owner: string, repo: string) => string

function git (cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

beforeEach(async () => {
  temp = await makeTempDir('workspace')
  root = join(temp.dir, 'workspaces')
  remoteOf = (owner, repo) => join(temp.dir, 'remote', owner, `${repo}.git`)
  const bare = remoteOf('acme', 'widgets')
  await mkdir(bare, { recursive: true })
  git(bare, 'init', '--quiet', '--bare', '--initial-branch=main')
  seed = join(temp.dir, 'seed')
  await mkdir(seed)
  git(seed, 'init', '--quiet', '--initial-branch=main')
  await writeFile(join(seed, 'README.md'), 'widgets\n')
  git(seed, 'add', 'README.md')
  git(seed, 'commit', '--quiet', '-m', 'first')
  git(seed, 'remote', 'add', 'origin', bare)
  git(seed, 'push', '--quiet', 'origin', 'main')
})

afterEach(async () => {
  await temp.remove()
})

function makeWorkspaces (init: Partial<WorkspacesInit> = {}): ReturnType<typeof createWorkspaces> {
  return createWorkspaces({ logger: silentLogger() }, {
    root,
    cloneUrl: join(temp.dir, 'remote', '{owner}', '{repo}.git'),
    commandTimeoutMs: 20_000,
    ...init
  })
}

describe('issue workspaces', () => {
  it('clones on branch issue-N, then fetches instead of cloning again', async () => {
    const workspaces = makeWorkspaces()
    const first = await workspaces.forIssue({ owner: 'acme', repo: 'widgets', issue: 7 })
    expect(first).toMatchObject({ kind: 'issue', created: true, branch: 'issue-7', dir: join(root, 'acme', 'widgets', 'issue-7') })
    expect(git(first.dir, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('issue-7')
    expect(existsSync(join(first.dir, 'README.md'))).toBe(true)

    // Work in progress that a re-clone would lose, and news on the remote that only a fetch brings.
    await writeFile(join(first.dir, 'notes.txt'), 'half done\n')
    await writeFile(join(seed, 'CHANGES.md'), 'more\n')
    git(seed, 'add', 'CHANGES.md')
    git(seed, 'commit', '--quiet', '-m', 'second')
    git(seed, 'push', '--quiet', 'origin', 'main')

    const second = await workspaces.forIssue({ owner: 'acme', repo: 'widgets', issue: 7 })
    expect(second).toMatchObject({ created: false, dir: first.dir, branch: 'issue-7' })
    expect(existsSync(join(second.dir, 'notes.txt'))).toBe(true)
    expect(git(second.dir, 'rev-parse', 'origin/main')).toBe(git(seed, 'rev-parse', 'HEAD'))
    expect(git(second.dir, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('issue-7')
    expect(await readdir(join(root, 'acme', 'widgets'))).toEqual(['issue-7'])
  })

  it('checks out the remote branch issue-N when it already exists', async () => {
    git(seed, 'checkout', '--quiet', '-b', 'issue-8')
    await writeFile(join(seed, 'fix.txt'), 'started elsewhere\n')
    git(seed, 'add', 'fix.txt')
    git(seed, 'commit', '--quiet', '-m', 'started')
    git(seed, 'push', '--quiet', 'origin', 'issue-8')

    const ws = await makeWorkspaces().forIssue({ owner: 'acme', repo: 'widgets', issue: 8 })
    expect(git(ws.dir, 'rev-parse', 'HEAD')).toBe(git(seed, 'rev-parse', 'HEAD'))
    expect(git(ws.dir, 'rev-parse', '--abbrev-ref', 'issue-8@{upstream}')).toBe('origin/issue-8')
  })

  it('leaves nothing behind when the clone fails', async () => {
    const workspaces = makeWorkspaces()
    await expect(workspaces.forIssue({ owner: 'acme', repo: 'missing', issue: 1 })).rejects.toMatchObject({ code: 'WORKSPACE_GIT_FAILED' })
    expect(await readdir(join(root, 'acme', 'missing'))).toEqual([])
  })

  it('refuses names that would leave the workspace root or read as flags', async () => {
    const workspaces = makeWorkspaces()
    for (const ref of [
      { owner: '..', repo: 'widgets', issue: 1 },
      { owner: 'acme', repo: 'a/b', issue: 1 },
      { owner: 'acme', repo: 'widgets', issue: 0 },
      { owner: 'acme', repo: 'widgets', issue: 1, url: '--upload-pack=touch /tmp/x' }
    ]) {
      await expect(workspaces.forIssue(ref)).rejects.toMatchObject({ code: 'WORKSPACE_INVALID_NAME' })
    }
    await expect(workspaces.forTask('../escape')).rejects.toMatchObject({ code: 'WORKSPACE_INVALID_NAME' })
    expect(existsSync(root)).toBe(false)
  })
})

describe('task workspaces', () => {
  it('makes tasks/<taskId> once and reuses it', async () => {
    const workspaces = makeWorkspaces()
    const first = await workspaces.forTask('evt-1.task')
    expect(first).toEqual({ kind: 'task', dir: join(root, 'tasks', 'evt-1.task'), taskId: 'evt-1.task', created: true })
    expect(existsSync(first.dir)).toBe(true)
    expect((await workspaces.forTask('evt-1.task')).created).toBe(false)
  })
})

describe('publish', () => {
  const template = [process.execPath, FAKE_PUBLISH, '{branch}', '--title', 'Fix #{issue} in {owner}/{repo}', '--body', '{body}']

  it('runs the templated argv in the workspace and pushes the branch to the remote', async () => {
    const workspaces = makeWorkspaces({ publish: template })
    const ws = await workspaces.forIssue({ owner: 'acme', repo: 'widgets', issue: 7 })
    await writeFile(join(ws.dir, 'fix.txt'), 'fixed\n')
    git(ws.dir, 'add', 'fix.txt')
    git(ws.dir, 'commit', '--quiet', '-m', 'fix #7')

    const body = 'it works; rm -rf / $(whoami) "quoted"'
    const published = await workspaces.publish(ws, { body })
    expect(published?.argv.slice(2)).toEqual(['issue-7', '--title', 'Fix #7 in acme/widgets', '--body', body])
    expect(JSON.parse(published?.stdout ?? '')).toEqual({ branch: 'issue-7', args: ['--title', 'Fix #7 in acme/widgets', '--body', body], cwd: ws.dir })
    expect(git(remoteOf('acme', 'widgets'), 'rev-parse', 'refs/heads/issue-7')).toBe(git(ws.dir, 'rev-parse', 'HEAD'))
  })

  it('reports a failing publish command, and does nothing when none is configured', async () => {
    const ws = await makeWorkspaces().forIssue({ owner: 'acme', repo: 'widgets', issue: 7 })
    expect(await makeWorkspaces().publish(ws)).toBeUndefined()
    const failing = makeWorkspaces({ publish: [...template, '--fail'] })
    await expect(failing.publish(ws, { body: 'b' })).rejects.toMatchObject({ code: 'WORKSPACE_PUBLISH_FAILED', message: expect.stringContaining('refused as asked') })
    await expect(makeWorkspaces({ publish: template }).publish(ws)).rejects.toMatchObject({ code: 'WORKSPACE_TEMPLATE_UNKNOWN' })
  })

  it('renders each template element as exactly one argument', () => {
    expect(renderArgv(['gh', 'pr', 'create', '--title', '{title}', '{a}{b}'], { title: 'a b; c', a: '1', b: '2' }))
      .toEqual(['gh', 'pr', 'create', '--title', 'a b; c', '12'])
  })
})
