import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { HANDOFF_CONTENT_TYPE, buildGitHandoff, handoffPayload, redactUrl, streamFromRemote } from '../../src/checkpoints/git-handoff.ts'
import { parseHandoff, renderHandoff } from '../../src/checkpoints/handoff-render.ts'
import type { CheckpointView } from '../../src/checkpoints/service-types.ts'
import { isIdlemeshError } from '../../src/errors.ts'

/** git with a fixed identity and no user or system config, so the machine's settings cannot leak in. */
function gitIn (dir: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'Ada Lovelace',
      GIT_AUTHOR_EMAIL: 'ada@example.org',
      GIT_COMMITTER_NAME: 'Ada Lovelace',
      GIT_COMMITTER_EMAIL: 'ada@example.org'
    }
  })
}

const VIEW: CheckpointView = {
  id: 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
  stream: 'acme/widgets',
  seq: 7,
  parents: [],
  author: '12D3KooWAuthorAuthorAuthorAuthorAuthorAuthorAuthor',
  time: Date.UTC(2025, 0, 2, 3, 4, 5),
  meta: { kind: 'handoff', contentType: HANDOFF_CONTENT_TYPE },
  keyId: 'k1',
  size: 1000
}

async function expectCode (promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(isIdlemeshError(err) ? err.code : err).toBe(code)
}

describe('buildGitHandoff', () => {
  let root: string
  let repo: string

  beforeEach(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'idlemesh-handoff-')))
    repo = join(root, 'widgets')
    mkdirSync(repo)
    gitIn(repo, 'init', '-q', '-b', 'main')
  })
  afterEach(() => { rmSync(root, { recursive: true, force: true }) })

  function commit (file: string, text: string, subject: string): void {
    writeFileSync(join(repo, file), text)
    gitIn(repo, 'add', file)
    gitIn(repo, 'commit', '-q', '-m', subject)
  }

  it('collects branch, HEAD, status, commits, diff stats, TODO/FIXME markers, remote and message', async () => {
    for (let i = 1; i <= 12; i++) commit(`f${i}.txt`, `file ${i}\n`, `commit number ${i}`)
    commit('app.ts', 'export const a = 1\n// TODO: old marker, committed\n', 'add app')
    commit('other.ts', '// FIXME: in an unchanged file: not reported\n', 'add other')
    gitIn(repo, 'checkout', '-q', '-b', 'feature/login')
    gitIn(repo, 'remote', 'add', 'origin', 'https://bot:s3cret-token@github.com/acme/widgets.git')
    // A tracked file changed, with a new marker; a staged file; an untracked file with a marker.
    writeFileSync(join(repo, 'app.ts'), 'export const a = 2\n// TODO: old marker, committed\nexport function login () {} // FIXME handle errors\n')
    writeFileSync(join(repo, 'f1.txt'), 'file 1, staged change\n')
    gitIn(repo, 'add', 'f1.txt')
    mkdirSync(join(repo, 'notes'))
    writeFileSync(join(repo, 'notes', 'plan.md'), '# plan\n\n- TODO write tests\n')
    writeFileSync(join(repo, 'blob.bin'), Buffer.from([0, 1, 2, 0x54, 0x4f, 0x44, 0x4f]))
    symlinkSync('/etc/hostname', join(repo, 'link-out'))
    const indexBefore = readFileSync(join(repo, '.git', 'index'))

    const handoff = await buildGitHandoff(join(repo, 'notes'), 'Login form half done.\nNext: error handling.')
    const head = gitIn(repo, 'rev-parse', 'HEAD').trim()

    expect(handoff).toMatchObject({ v: 1, kind: 'handoff', branch: 'feature/login', message: 'Login form half done.\nNext: error handling.' })
    expect(handoff.repo).toEqual({ root: repo, remote: { name: 'origin', url: 'https://github.com/acme/widgets.git' } })
    expect(handoff.head).toEqual({ sha: head, subject: 'add other' })
    expect(handoff.commits).toHaveLength(10)
    expect(handoff.commits[0]).toEqual({ sha: head, author: 'Ada Lovelace <ada@example.org>', date: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), subject: 'add other' })
    expect(handoff.commits.map(c => c.subject).slice(0, 3)).toEqual(['add other', 'add app', 'commit number 12'])
    expect(handoff.status).toEqual([' M app.ts', 'M  f1.txt', '?? blob.bin', '?? link-out', '?? notes/plan.md'])
    expect(handoff.statusEntries).toContainEqual({ code: '??', path: 'notes/plan.md' })
    expect(handoff.diffStat.worktree.files).toEqual([{ path: 'app.ts', added: 2, deleted: 1 }, { path: 'f1.txt', added: 1, deleted: 1 }])
    expect(handoff.diffStat.worktree.summary).toBe('2 files changed, 3 insertions(+), 2 deletions(-)')
    expect(handoff.diffStat.staged.files).toEqual([{ path: 'f1.txt', added: 1, deleted: 1 }])
    expect(handoff.diffStat.staged.summary).toBe('1 file changed, 1 insertion(+), 1 deletion(-)')
    // Changed and untracked files only; binary files and symlinks are not read.
    expect(handoff.markers).toEqual([
      { file: 'app.ts', line: 2, tag: 'TODO', text: '// TODO: old marker, committed' },
      { file: 'app.ts', line: 3, tag: 'FIXME', text: 'export function login () {} // FIXME handle errors' },
      { file: 'notes/plan.md', line: 3, tag: 'TODO', text: '- TODO write tests' }
    ])
    expect(handoff.markersTruncated).toBe(false)
    expect(JSON.stringify(handoff)).not.toContain('s3cret')

    // Building a handoff changes nothing in the repository, not even the index's stat cache.
    expect(readFileSync(join(repo, '.git', 'index')).equals(indexBefore)).toBe(true)

    const encoded = handoffPayload(handoff)
    expect(encoded).toMatchObject({ contentType: HANDOFF_CONTENT_TYPE, kind: 'handoff', label: `feature/login@${head.slice(0, 12)}: Login form half done.` })
    const parsed = parseHandoff(encoded.payload, VIEW)
    expect(parsed).toEqual(handoff)

    const text = renderHandoff(parsed, VIEW)
    expect(text).toContain('Resume here: handoff 7 of stream acme/widgets')
    expect(text).toContain(`checkpoint ${VIEW.id}`)
    expect(text).toContain(`repository  ${repo} on `)
    expect(text).toContain('remote      origin https://github.com/acme/widgets.git')
    expect(text).toContain('branch      feature/login')
    expect(text).toContain(`HEAD        ${head.slice(0, 12)} add other`)
    expect(text).toContain('  Login form half done.\n  Next: error handling.')
    expect(text).toMatch(/Done \(recent commits, newest first\)\n {2}[0-9a-f]{12} {2}\d{4}-\d\d-\d\d {2}Ada Lovelace {2}add other\n/)
    expect(text).toContain('uncommitted changes (5,')
    expect(text).toContain('    ?? notes/plan.md')
    expect(text).toContain('diff against HEAD: 2 files changed, 3 insertions(+), 2 deletions(-)')
    expect(text).toContain('    app.ts  +2 -1')
    expect(text).toContain('staged: 1 file changed')
    expect(text).toContain('    app.ts:3: export function login () {} // FIXME handle errors')
    expect(text).toContain('    notes/plan.md:3: - TODO write tests')
    expect(text).toContain(`    cd ${repo}\n    git checkout feature/login\n    git status\n`)
    expect(text).toContain('    git clone https://github.com/acme/widgets.git widgets\n    cd widgets\n    git checkout feature/login\n')
  })

  it('handles a repository without commits or remote, and a detached HEAD', async () => {
    writeFileSync(join(repo, 'start.md'), 'TODO: everything\n')
    const fresh = await buildGitHandoff(repo)
    expect(fresh).toMatchObject({ branch: 'main', head: null, commits: [], message: null, status: ['?? start.md'] })
    expect(fresh.repo.remote).toBeUndefined()
    expect(fresh.markers).toEqual([{ file: 'start.md', line: 1, tag: 'TODO', text: 'TODO: everything' }])
    const freshText = renderHandoff(fresh, VIEW)
    expect(freshText).toContain('(no commits yet)')
    expect(freshText).not.toContain('git clone')

    commit('a.txt', 'a\n', 'first')
    commit('b.txt', 'b\n', 'second')
    gitIn(repo, 'checkout', '-q', '--detach', 'HEAD~1')
    const detached = await buildGitHandoff(repo, 'looking at the past')
    expect(detached.branch).toBeNull()
    expect(detached.head?.subject).toBe('first')
    const text = renderHandoff(detached, VIEW)
    expect(text).toContain('branch      (detached HEAD)')
    expect(text).toContain(`git checkout ${detached.head?.sha ?? ''}`)
  })

  it('says clearly when the directory is not a git repository', async () => {
    const plain = join(root, 'plain')
    mkdirSync(plain)
    await expectCode(buildGitHandoff(plain), 'GIT_NOT_A_REPOSITORY')
    await expectCode(buildGitHandoff(join(root, 'missing')), 'GIT_NOT_A_REPOSITORY')
    const err = await buildGitHandoff(plain).catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 400, message: expect.stringContaining('not inside a git repository') })
  })
})

describe('handoff helpers', () => {
  it('guesses owner/repo from remote URLs', () => {
    expect(streamFromRemote('git@github.com:acme/widgets.git')).toBe('acme/widgets')
    expect(streamFromRemote('https://github.com/acme/widgets')).toBe('acme/widgets')
    expect(streamFromRemote('https://gitlab.example.com/group/sub/proj.git/')).toBe('sub/proj')
    expect(streamFromRemote('ssh://git@host:2222/acme/widgets.git')).toBe('acme/widgets')
    expect(streamFromRemote('/srv/git/widgets.git')).toBeUndefined()
    expect(streamFromRemote('https://host/only')).toBeUndefined()
    expect(streamFromRemote('https://host/we ird/na me')).toBeUndefined()
  })

  it('removes credentials from remote URLs', () => {
    expect(redactUrl('https://user:tok@github.com/a/b.git')).toBe('https://github.com/a/b.git')
    expect(redactUrl('https://ghp_token@github.com/a/b.git')).toBe('https://github.com/a/b.git')
    expect(redactUrl('git@github.com:a/b.git')).toBe('git@github.com:a/b.git')
    expect(redactUrl('ssh://git@github.com/a/b.git')).toBe('ssh://git@github.com/a/b.git')
  })

  it('refuses payloads that are not handoffs, and strips terminal escapes when rendering', () => {
    const text = new TextEncoder().encode('just some notes')
    expect(() => parseHandoff(text, { ...VIEW, meta: { kind: 'notes', contentType: 'text/plain' } })).toThrow(/is not a handoff: its kind is not 'handoff'/)
    expect(() => parseHandoff(text, VIEW)).toThrow(/not JSON/)
    expect(() => parseHandoff(new TextEncoder().encode('{"kind":"handoff","v":2}'), VIEW)).toThrow(/version 2/)
    expect(() => parseHandoff(new TextEncoder().encode('{"kind":"handoff","v":1}'), VIEW)).toThrow(/repo.root/)
    const hostile = {
      v: 1,
      kind: 'handoff',
      createdAt: '2025-01-01T00:00:00Z',
      host: 'box\x1b]0;pwned\x07',
      repo: { root: '/srv/it\'s here' },
      branch: 'main',
      head: { sha: 'abc', subject: 'x\x1b[2J' },
      status: [],
      statusEntries: [],
      commits: [],
      diffStat: { worktree: { files: [], summary: '' }, staged: { files: [], summary: '' } },
      markers: [],
      markersTruncated: false,
      message: 'line one\r\nline two\x1b[31m'
    }
    const rendered = renderHandoff(parseHandoff(new TextEncoder().encode(JSON.stringify(hostile)), VIEW), VIEW)
    expect(rendered).not.toContain('\x1b')
    expect(rendered).not.toContain('\x07')
    expect(rendered).toContain('  line one\n  line two?[31m')
    expect(rendered).toContain('    cd \'/srv/it\'\\\'\'s here\'')
  })
})
