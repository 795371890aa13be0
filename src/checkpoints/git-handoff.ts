/**
 * A handoff: a repository's working context as a checkpoint payload (DESIGN §4), so the next
 * person or agent on another server knows where work stopped and how to resume. Everything is
 * read with `git` itself (execFile, argv arrays, never a shell) and nothing in the repository
 * is changed: no index refresh, no lock taken.
 */
import { execFile } from 'node:child_process'
import { constants } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { IdlemeshError } from '../errors.ts'
import { validateStreamName } from './format.ts'

export const HANDOFF_CONTENT_TYPE = 'application/vnd.idlemesh.handoff+json'
export const HANDOFF_KIND = 'handoff'
export const HANDOFF_VERSION = 1
/** How many recent commits a handoff lists. */
export const HANDOFF_COMMITS = 10
/** Bounds that keep a handoff small whatever the repository holds. */
const MAX_MARKERS = 200
const MAX_MARKER_TEXT = 200
const MAX_SCANNED_FILE_BYTES = 1024 * 1024 // 1 MiB: larger files are rarely hand-written
const MAX_SCANNED_FILES = 2000
const MAX_STATUS_ENTRIES = 1000
/** Bound on each git command: 30 s. */
const GIT_TIMEOUT_MS = 30_000
/** Bound on each git command's output: 32 MiB. */
const GIT_MAX_BUFFER = 32 * 1024 * 1024
const MARKER = /\b(TODO|FIXME)\b/

export interface HandoffCommit {
  sha: string
  /** `Name <email>` */
  author: string
  /** ISO 8601, the author date. */
  date: string
  subject: string
}

export interface HandoffStatusEntry {
  /** The two porcelain v1 status letters, e.g. ` M`, `A `, `??`. */
  code: string
  path: string
  /** For renames and copies: the path it came from. */
  from?: string
}

export interface HandoffDiffFile {
  path: string
  /** Lines added and deleted; null for binary files. */
  added: number | null
  deleted: number | null
}

export interface HandoffDiffStat {
  files: HandoffDiffFile[]
  /** git's own one-line summary, e.g. `2 files changed, 10 insertions(+), 1 deletion(-)`; '' when nothing changed. */
  summary: string
}

export interface HandoffMarker {
  file: string
  line: number
  tag: 'TODO' | 'FIXME'
  text: string
}

export interface Handoff {
  v: typeof HANDOFF_VERSION
  kind: typeof HANDOFF_KIND
  /** ISO 8601, when the handoff was built. */
  createdAt: string
  host: string
  repo: {
    /** The working tree's top-level directory on `host`. */
    root: string
    /** The remote the branch tracks, else `origin`, else the first; credentials removed from the URL. */
    remote?: { name: string, url: string }
  }
  /** null when HEAD is detached. */
  branch: string | null
  /** null before the first commit. */
  head: { sha: string, subject: string } | null
  /** `git status --porcelain` lines, verbatim (at most 1000). */
  status: string[]
  statusEntries: HandoffStatusEntry[]
  /** The last commits of HEAD, newest first. */
  commits: HandoffCommit[]
  diffStat: {
    /** Working tree (staged and not) against HEAD. */
    worktree: HandoffDiffStat
    /** Index against HEAD. */
    staged: HandoffDiffStat
  }
  /** TODO/FIXME lines in files changed against HEAD and in untracked files. */
  markers: HandoffMarker[]
  /** True when there were more markers than the handoff keeps. */
  markersTruncated: boolean
  message: string | null
}

export interface GitHandoffOptions {
  signal?: AbortSignal
}

class GitCommandError extends Error {
  readonly exitCode: number | null
  readonly stderr: string

  constructor (message: string, exitCode: number | null, stderr: string, cause: unknown) {
    super(message, { cause })
    this.name = 'GitCommandError'
    this.exitCode = exitCode
    this.stderr = stderr
  }
}

// Fixed, predictable output whatever the user's environment says: English messages, no
// pager, no prompts, and GIT_OPTIONAL_LOCKS=0 so `status` does not rewrite the index.
const GIT_ENV = { LC_ALL: 'C', LANG: 'C', GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', PAGER: 'cat' }

async function git (cwd: string, args: string[], options: GitHandoffOptions): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('git', ['-c', 'core.quotepath=off', '-c', 'color.ui=never', ...args], {
      cwd,
      env: { ...process.env, ...GIT_ENV },
      encoding: 'utf8',
      maxBuffer: GIT_MAX_BUFFER,
      timeout: GIT_TIMEOUT_MS,
      ...(options.signal === undefined ? {} : { signal: options.signal })
    }, (err, stdout, stderr) => {
      if (err === null) { resolve(stdout); return }
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') {
        reject(new IdlemeshError('GIT_UNAVAILABLE', 'git is not installed or not on PATH: install git to build a handoff', { status: 500, cause: err }))
        return
      }
      if (err.name === 'AbortError') { reject(err); return }
      const exitCode = typeof code === 'number' ? code : null
      reject(new GitCommandError(`git ${args.join(' ')} failed: ${firstLine(stderr) || err.message}`, exitCode, stderr, err))
    })
  })
}

/** Runs git; a non-zero exit (only) becomes `undefined`, for questions whose "no" is an exit code. */
async function gitMaybe (cwd: string, args: string[], options: GitHandoffOptions): Promise<string | undefined> {
  try {
    return await git(cwd, args, options)
  } catch (err) {
    if (err instanceof GitCommandError) return undefined
    throw err
  }
}

function firstLine (text: string): string {
  return text.trim().split('\n')[0]?.trim() ?? ''
}

function gitFailed (err: unknown): IdlemeshError {
  if (err instanceof IdlemeshError) return err
  return new IdlemeshError('GIT_FAILED', (err as Error).message, { status: 500, cause: err })
}

/** Collects the context of the git working tree that contains `dir`. */
export async function buildGitHandoff (dir: string, message?: string, options: GitHandoffOptions = {}): Promise<Handoff> {
  const isDir = await stat(dir).then(s => s.isDirectory(), () => false)
  if (!isDir) throw new IdlemeshError('GIT_NOT_A_REPOSITORY', `${dir} is not a directory, so not a git repository`, { status: 400 })
  let root: string
  try {
    root = (await git(dir, ['rev-parse', '--show-toplevel'], options)).trim()
  } catch (err) {
    if (err instanceof GitCommandError && /not a git repository/i.test(err.stderr)) {
      throw new IdlemeshError('GIT_NOT_A_REPOSITORY', `${dir} is not inside a git repository (run git init, or pass the repository's directory)`, { status: 400, cause: err })
    }
    if (err instanceof GitCommandError && /must be run in a work tree/i.test(err.stderr)) {
      // A bare repository or a .git directory: there is no working tree to hand off.
      throw new IdlemeshError('GIT_NOT_A_REPOSITORY', `${dir} has no git working tree (a bare repository?)`, { status: 400, cause: err })
    }
    throw gitFailed(err)
  }
  if (root === '') throw new IdlemeshError('GIT_NOT_A_REPOSITORY', `${dir} has no git working tree (a bare repository?)`, { status: 400 })

  try {
    const headSha = (await gitMaybe(root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}'], options))?.trim()
    const hasHead = headSha !== undefined && headSha !== ''
    const [branchOut, statusOut, logOut, worktreeNum, worktreeShort, stagedNum, stagedShort, untrackedOut, changedOut, remote] = await Promise.all([
      gitMaybe(root, ['symbolic-ref', '--short', '-q', 'HEAD'], options),
      git(root, ['status', '--porcelain=v1', '-z', '--untracked-files=all'], options),
      hasHead ? git(root, ['log', `-${HANDOFF_COMMITS}`, '--no-show-signature', '--format=%H%x1f%an <%ae>%x1f%aI%x1f%s%x1e', 'HEAD'], options) : Promise.resolve(''),
      // Before the first commit there is no HEAD to compare with: the index stands in for it.
      git(root, hasHead ? ['diff', '--numstat', '-z', 'HEAD'] : ['diff', '--numstat', '-z'], options),
      git(root, hasHead ? ['diff', '--shortstat', 'HEAD'] : ['diff', '--shortstat'], options),
      git(root, ['diff', '--cached', '--numstat', '-z'], options),
      git(root, ['diff', '--cached', '--shortstat'], options),
      git(root, ['ls-files', '--others', '--exclude-standard', '-z'], options),
      git(root, hasHead ? ['diff', '--name-only', '-z', '--diff-filter=d', 'HEAD'] : ['ls-files', '-z'], options),
      findRemote(root, options)
    ])
    const commits = parseLog(logOut)
    const statusEntries = parseStatus(statusOut).slice(0, MAX_STATUS_ENTRIES)
    const scanned = [...new Set([...splitZ(changedOut), ...splitZ(untrackedOut)])].sort().slice(0, MAX_SCANNED_FILES)
    const { markers, truncated } = await findMarkers(root, scanned)
    const handoff: Handoff = {
      v: HANDOFF_VERSION,
      kind: HANDOFF_KIND,
      createdAt: new Date().toISOString(),
      host: hostname(),
      repo: { root, ...(remote === undefined ? {} : { remote }) },
      branch: branchOut?.trim() || null,
      head: hasHead ? { sha: headSha, subject: commits[0]?.subject ?? '' } : null,
      status: statusEntries.map(statusLine),
      statusEntries,
      commits,
      diffStat: {
        worktree: { files: parseNumstat(worktreeNum), summary: worktreeShort.trim() },
        staged: { files: parseNumstat(stagedNum), summary: stagedShort.trim() }
      },
      markers,
      markersTruncated: truncated,
      message: message === undefined || message.trim() === '' ? null : message
    }
    return handoff
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err
    throw gitFailed(err)
  }
}

/** The payload bytes and clear metadata to post a handoff with. */
export function handoffPayload (handoff: Handoff): { payload: Uint8Array, contentType: string, kind: string, label: string } {
  const where = `${handoff.branch ?? 'detached'}@${handoff.head?.sha.slice(0, 12) ?? 'no commits'}`
  const firstMessageLine = handoff.message?.split('\n')[0]?.trim() ?? ''
  // The label is clear text every node sees: keep it to where the work is plus the message's title.
  const label = (firstMessageLine === '' ? where : `${where}: ${firstMessageLine}`).slice(0, 256)
  return { payload: new TextEncoder().encode(JSON.stringify(handoff, null, 2) + '\n'), contentType: HANDOFF_CONTENT_TYPE, kind: HANDOFF_KIND, label }
}

function splitZ (out: string): string[] {
  return out.split('\0').filter(s => s !== '')
}

/** `XY path\0` entries; renames and copies carry their source as the next field. */
function parseStatus (out: string): HandoffStatusEntry[] {
  const fields = out.split('\0')
  const entries: HandoffStatusEntry[] = []
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as string
    if (field.length < 4) continue
    const code = field.slice(0, 2)
    const entry: HandoffStatusEntry = { code, path: field.slice(3) }
    if (code.includes('R') || code.includes('C')) {
      const from = fields[++i]
      if (from !== undefined && from !== '') entry.from = from
    }
    entries.push(entry)
  }
  return entries
}

function statusLine (entry: HandoffStatusEntry): string {
  return entry.from === undefined ? `${entry.code} ${entry.path}` : `${entry.code} ${entry.from} -> ${entry.path}`
}

/** `added\tdeleted\tpath\0`, or for a rename `added\tdeleted\t\0from\0to\0`. */
function parseNumstat (out: string): HandoffDiffFile[] {
  const fields = out.split('\0')
  const files: HandoffDiffFile[] = []
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as string
    const match = /^(-|\d+)\t(-|\d+)\t(.*)$/s.exec(field)
    if (match === null) continue
    let path = match[3] as string
    if (path === '') {
      const from = fields[++i] ?? ''
      const to = fields[++i] ?? ''
      path = `${from} -> ${to}`
    }
    files.push({ path, added: match[1] === '-' ? null : Number(match[1]), deleted: match[2] === '-' ? null : Number(match[2]) })
  }
  return files
}

function parseLog (out: string): HandoffCommit[] {
  return out.split('\x1e').map(r => r.replace(/^\n/, '')).filter(r => r !== '').map((record) => {
    const [sha = '', author = '', date = '', subject = ''] = record.split('\x1f')
    return { sha, author, date, subject: subject.replace(/\n$/, '') }
  })
}

async function findRemote (root: string, options: GitHandoffOptions): Promise<{ name: string, url: string } | undefined> {
  const names = splitLines(await git(root, ['remote'], options))
  if (names.length === 0) return undefined
  const tracked = (await gitMaybe(root, ['rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{upstream}'], options))?.trim()
  const trackedRemote = tracked === undefined ? undefined : names.find(n => tracked.startsWith(`${n}/`))
  const name = trackedRemote ?? (names.includes('origin') ? 'origin' : names[0] as string)
  const url = (await gitMaybe(root, ['remote', 'get-url', name], options))?.trim()
  if (url === undefined || url === '') return undefined
  return { name, url: redactUrl(url) }
}

function splitLines (out: string): string[] {
  return out.split('\n').map(l => l.trim()).filter(l => l !== '')
}

/** Drops `user:password@` from URLs: a token in a remote URL must not travel in a checkpoint. */
export function redactUrl (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.username === '' && parsed.password === '') return url
    // ssh://git@host is a login name, not a secret; anything with a password goes entirely.
    if (parsed.password === '' && parsed.protocol === 'ssh:') return url
    parsed.username = ''
    parsed.password = ''
    return parsed.toString()
  } catch {
    // scp-like `user@host:path` has no password field.
    return url
  }
}

/**
 * `owner/repo` from a remote URL (https, ssh, scp-like `git@host:owner/repo.git`), when it
 * makes a valid stream name; undefined otherwise.
 */
export function streamFromRemote (url: string): string | undefined {
  let path: string | undefined
  const scp = /^[^/@:]+@[^/:]+:(.+)$/.exec(url)
  if (scp !== null && !url.includes('://')) {
    path = scp[1]
  } else {
    try {
      path = new URL(url).pathname
    } catch {
      return undefined
    }
  }
  const parts = (path ?? '').replace(/\.git\/?$/, '').split('/').filter(p => p !== '')
  if (parts.length < 2) return undefined
  const stream = `${parts[parts.length - 2] as string}/${parts[parts.length - 1] as string}`
  try {
    return validateStreamName(stream)
  } catch {
    return undefined
  }
}

async function findMarkers (root: string, files: string[]): Promise<{ markers: HandoffMarker[], truncated: boolean }> {
  const markers: HandoffMarker[] = []
  for (const file of files) {
    const text = await readTextFile(join(root, file))
    if (text === undefined) continue
    const lines = text.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string
      const match = MARKER.exec(line)
      if (match === null) continue
      if (markers.length >= MAX_MARKERS) return { markers, truncated: true }
      markers.push({ file, line: i + 1, tag: match[1] as 'TODO' | 'FIXME', text: line.trim().slice(0, MAX_MARKER_TEXT) })
    }
  }
  return { markers, truncated: false }
}

/**
 * A regular file's text, or undefined for what is not worth scanning (gone, huge, binary).
 * Symlinks are not followed (they could point anywhere outside the repository) and a FIFO is
 * opened without blocking, then skipped.
 */
async function readTextFile (path: string): Promise<string | undefined> {
  let handle
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    const info = await handle.stat()
    if (!info.isFile() || info.size > MAX_SCANNED_FILE_BYTES) return undefined
    const bytes = await handle.readFile()
    // git's own test for binary: a NUL byte near the start.
    if (bytes.subarray(0, 8000).includes(0)) return undefined
    return bytes.toString('utf8')
  } catch {
    return undefined
  } finally {
    await handle?.close()
  }
}
