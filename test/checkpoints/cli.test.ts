import { spawn, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { checkpointRoutes } from '../../src/checkpoints/routes.ts'
import type { PostInput, PostResult } from '../../src/checkpoints/service-types.ts'
import { buildHttpApp } from '../../src/http/index.ts'
import { silentLogger } from '../../src/logger.ts'
import { fakeId, fakeService, type FakeEntry } from './fake-service.ts'

const CLI = resolve(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts')

interface CliResult { code: number | null, stdout: Buffer, stderr: string }

/** Runs the real CLI in a child process, optionally feeding stdin; bounded in time. */
async function runCli (args: string[], options: { stdin?: Buffer | string, cwd?: string, timeoutMs?: number } = {}): Promise<CliResult> {
  return await new Promise((resolve, reject) => {
    // Only what the CLI needs: no IDLEMESH_* from the machine running the tests.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir() }
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    const stdout: Buffer[] = []
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout.push(d) })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`idlemesh ${args.join(' ')} did not finish`)) }, options.timeoutMs ?? 30_000)
    child.once('error', reject)
    // 'close', not 'exit': the output may still be in the pipe when the process exits.
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout: Buffer.concat(stdout), stderr }) })
    child.stdin.on('error', () => {})
    child.stdin.end(options.stdin ?? '')
  })
}

function expectOneLineError (result: CliResult, pattern: RegExp): void {
  expect(result.code).not.toBe(0)
  const lines = result.stderr.trim().split('\n')
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^idlemesh: /)
  expect(lines[0]).toMatch(pattern)
}

function gitIn (dir: string, ...args: string[]): void {
  execFileSync('git', args, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 'Ada', GIT_AUTHOR_EMAIL: 'ada@example.org', GIT_COMMITTER_NAME: 'Ada', GIT_COMMITTER_EMAIL: 'ada@example.org' }
  })
}

describe('idlemesh checkpoint / streams against a real HTTP server', () => {
  let app: FastifyInstance
  let url: string
  let fake: ReturnType<typeof fakeService>
  let dir: string

  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'idlemesh-cli-')))
  })
  afterAll(async () => {
    await app?.close()
    rmSync(dir, { recursive: true, force: true })
  })
  beforeEach(async () => {
    await app?.close()
    fake = fakeService({ replicaId: (i) => `12D3KooWReplica${i}`, peersAsked: 2 })
    app = buildHttpApp({ logger: silentLogger() }, { routes: [checkpointRoutes(fake.service, { maxPayloadBytes: 4 * 1024 * 1024 })] })
    await app.listen({ host: '127.0.0.1', port: 0 })
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  })

  const node = (): string[] => ['--node', url]

  it('posts a file with metadata, and reads it back with latest --out, get, and to stdout', async () => {
    const payload = randomBytes(300_000)
    const file = join(dir, 'payload.bin')
    writeFileSync(file, payload)
    const posted = await runCli(['checkpoint', 'post', '--stream', 'owner/repo', '--file', file, '--meta', 'ticket=ABC-1', '--meta', 'Note=héllo wörld', '--label', 'nightly 100%', '--replicas', '1', ...node()])
    expect(posted.stderr).toBe('')
    expect(posted.code).toBe(0)
    const id = (fake.entries[0] as FakeEntry).view.id
    const text = posted.stdout.toString()
    expect(text).toContain('posted checkpoint 1 of stream owner/repo')
    expect(text).toContain(`id            ${id}`)
    expect(text).toContain('parents       (none: the first of the stream)')
    expect(text).toContain('confirmed by  1 other node: 12D3KooWReplica0')
    const input = fake.posts[0] as PostInput
    expect(Buffer.from(input.payload).equals(payload)).toBe(true)
    expect(input.replicas).toBe(1)
    expect(input.meta).toEqual({ label: 'nightly 100%', size: payload.length, contentType: 'application/octet-stream', user: { ticket: 'ABC-1', note: 'héllo wörld' } })

    const out = join(dir, 'latest.bin')
    const latest = await runCli(['checkpoint', 'latest', '--stream', 'owner/repo', '--out', out, ...node()])
    expect(latest.code).toBe(0)
    expect(readFileSync(out).equals(payload)).toBe(true)
    expect(latest.stdout.toString()).toContain(`to ${out}: checkpoint 1 of stream owner/repo, id ${id}`)
    expect(latest.stdout.toString()).toContain('confirmed latest (2 of 2 peers answered')
    // No temporary file is left behind.
    expect(readdirSync(dir).filter(f => f.includes('.partial-'))).toEqual([])

    const toStdout = await runCli(['checkpoint', 'latest', '--stream', 'owner/repo', ...node()])
    expect(toStdout.code).toBe(0)
    expect(toStdout.stdout.equals(payload)).toBe(true)
    const byId = await runCli(['checkpoint', 'get', id, ...node()])
    expect(byId.stderr).toBe('')
    expect(byId.code).toBe(0)
    expect(byId.stdout.length).toBe(payload.length)
    expect(byId.stdout.equals(payload)).toBe(true)
  })

  it('posts from stdin, with - and with no file; --json prints the PostResult', async () => {
    const first = await runCli(['checkpoint', 'post', '-', '--json', ...node()], { stdin: 'from stdin\n' })
    expect(first.code).toBe(0)
    const result = JSON.parse(first.stdout.toString()) as PostResult
    expect(result).toMatchObject({ stream: 'default', seq: 1, parents: [], confirmedBy: [] })
    const second = await runCli(['checkpoint', 'post', '--json', ...node()], { stdin: Buffer.from([0, 255, 1, 254]) })
    expect(second.code).toBe(0)
    expect(JSON.parse(second.stdout.toString())).toMatchObject({ seq: 2, parents: [result.id] })
    expect(fake.posts.map(p => Buffer.from(p.payload).toString('hex'))).toEqual([Buffer.from('from stdin\n').toString('hex'), '00ff01fe'])
  })

  it('latest --json gives the view, the base64 payload and the confirmation; --local asks only this node', async () => {
    await runCli(['checkpoint', 'post', '--stream', 's', '--content-type', 'text/plain', ...node()], { stdin: 'hello' })
    const res = await runCli(['checkpoint', 'latest', '--stream', 's', '--json', '--local', ...node()])
    expect(res.code).toBe(0)
    const body = JSON.parse(res.stdout.toString())
    expect(body).toMatchObject({ payload: Buffer.from('hello').toString('base64'), payloadEncoding: 'base64', confirmed: false, peersAsked: 0, source: 'local' })
    expect(body.checkpoint).toMatchObject({ stream: 's', seq: 1, meta: { contentType: 'text/plain', size: 5 } })
  })

  it('post --from-git posts a handoff to the owner/repo stream, and latest --handoff renders it', async () => {
    const repo = join(dir, 'widgets')
    mkdirSync(repo)
    gitIn(repo, 'init', '-q', '-b', 'main')
    writeFileSync(join(repo, 'a.ts'), 'export const a = 1\n')
    gitIn(repo, 'add', 'a.ts')
    gitIn(repo, 'commit', '-q', '-m', 'first commit')
    gitIn(repo, 'remote', 'add', 'origin', 'git@github.com:acme/widgets.git')
    writeFileSync(join(repo, 'a.ts'), 'export const a = 2 // TODO: make it 3\n')

    const posted = await runCli(['checkpoint', 'post', '--from-git', repo, '--message', 'halfway there', ...node()])
    expect(posted.stderr).toBe('')
    expect(posted.code).toBe(0)
    const input = fake.posts[0] as PostInput
    expect(input.stream).toBe('acme/widgets')
    expect(input.meta).toMatchObject({ kind: 'handoff', contentType: 'application/vnd.idlemesh.handoff+json', label: expect.stringMatching(/^main@[0-9a-f]{12}: halfway there$/) })

    const rendered = await runCli(['checkpoint', 'latest', '--stream', 'acme/widgets', '--handoff', ...node()])
    expect(rendered.code).toBe(0)
    const text = rendered.stdout.toString()
    expect(text).toContain('Resume here: handoff 1 of stream acme/widgets')
    expect(text).toContain('halfway there')
    expect(text).toContain('a.ts:1: export const a = 2 // TODO: make it 3')
    expect(text).toContain(`cd ${repo}\n    git checkout main`)

    // A payload that is not a handoff is refused with one clear line.
    await runCli(['checkpoint', 'post', '--stream', 'acme/widgets', ...node()], { stdin: 'plain notes' })
    const refused = await runCli(['checkpoint', 'latest', '--stream', 'acme/widgets', '--handoff', ...node()])
    expectOneLineError(refused, /is not a handoff/)

    // A directory that is not a repository.
    const notRepo = await runCli(['checkpoint', 'post', '--from-git', dir, ...node()])
    expectOneLineError(notRepo, /not inside a git repository/)
  })

  it('log and streams print tables', async () => {
    for (const label of ['one', 'two', 'three']) await runCli(['checkpoint', 'post', '--stream', 'team/notes', '--label', label, '--kind', 'note', ...node()], { stdin: label })
    await runCli(['checkpoint', 'post', ...node()], { stdin: 'x' })
    const log = await runCli(['checkpoint', 'log', '--stream', 'team/notes', '--limit', '2', ...node()])
    expect(log.code).toBe(0)
    const lines = log.stdout.toString().trim().split('\n')
    expect(lines[0]).toMatch(/^SEQ\s+ID\s+TIME\s+AUTHOR\s+LABEL \(KIND\)\s+SIZE$/)
    expect(lines).toHaveLength(3)
    expect(lines[1]).toMatch(/^3\s+bafy\S+\s+2025-05-06 07:08:03Z\s+12D3KooW…\S+\s+three \(note\)\s+5 B$/)
    expect(lines[2]).toMatch(/^2\s+.*two \(note\)/)

    const streams = await runCli(['streams', ...node()])
    expect(streams.code).toBe(0)
    const rows = streams.stdout.toString().trim().split('\n')
    expect(rows[0]).toMatch(/^STREAM\s+CHECKPOINTS\s+HEADS\s+LATEST SEQ\s+LATEST ID$/)
    expect(rows.slice(1).map(r => r.split(/\s+/).slice(0, 4))).toEqual([['default', '1', '1', '1'], ['team/notes', '3', '1', '3']])
  })

  it('verify exits 0 on a sound stream and 1, naming the first broken link, on a broken one', async () => {
    await runCli(['checkpoint', 'post', '--stream', 's', ...node()], { stdin: 'x' })
    const ok = await runCli(['checkpoint', 'verify', '--stream', 's', ...node()])
    expect(ok.code).toBe(0)
    expect(ok.stdout.toString()).toBe('stream s: ok, 1 checkpoint checked\n')
    fake.state.broken = 's'
    const broken = await runCli(['checkpoint', 'verify', '--stream', 's', ...node()])
    expect(broken.code).toBe(1)
    const id = (fake.entries[0] as FakeEntry).view.id
    expectOneLineError(broken, new RegExp(`stream s does not verify: first broken link at ${id} -> ${fakeId('gone')} \\(missing_parent`))
    expect(broken.stdout.toString()).toContain(`${id}  missing_parent (parent ${fakeId('gone')})`)
  })

  it('bad input fails with one idlemesh: line and a non-zero exit, and nothing is posted', async () => {
    const badStream = await runCli(['checkpoint', 'post', '--stream', 'a//b', ...node()], { stdin: 'x' })
    expectOneLineError(badStream, /invalid stream name/)
    const badReplicas = await runCli(['checkpoint', 'post', '--replicas', '-2', ...node()], { stdin: 'x' })
    expectOneLineError(badReplicas, /replicas/)
    const badMeta = await runCli(['checkpoint', 'post', '--meta', 'novalue', ...node()], { stdin: 'x' })
    expectOneLineError(badMeta, /key=value/)
    const empty = await runCli(['checkpoint', 'post', ...node()], { stdin: '' })
    expectOneLineError(empty, /payload is empty/)
    const missingFile = await runCli(['checkpoint', 'post', join(dir, 'nope.bin'), ...node()])
    expectOneLineError(missingFile, /cannot read .*nope\.bin: ENOENT/)
    const tooLarge = await runCli(['checkpoint', 'post', ...node()], { stdin: Buffer.alloc(5 * 1024 * 1024) })
    expectOneLineError(tooLarge, /larger than this route accepts|cannot reach/)
    expect(fake.posts).toEqual([])

    expectOneLineError(await runCli(['checkpoint', 'latest', '--stream', 'nothing', ...node()]), /stream nothing has no checkpoints/)
    expectOneLineError(await runCli(['checkpoint', 'get', 'not-a-cid', ...node()]), /not a checkpoint id/)
    expectOneLineError(await runCli(['checkpoint', 'log', '--limit', '0', ...node()]), /limit/)
    expectOneLineError(await runCli(['checkpoint', 'latest', '--json', '--handoff', ...node()]), /cannot be used with/)
    // A node that is not there.
    await app.close()
    expectOneLineError(await runCli(['streams', ...node()]), /cannot reach the node/)
  })
})
