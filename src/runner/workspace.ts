/**
 * Per-task workspaces. A plain task gets `<root>/tasks/<taskId>`; work on a GitHub issue gets a
 * clone of its repository at `<root>/<owner>/<repo>/issue-N` on branch `issue-N`, cloned once and
 * fetched afterwards, so a follow-up resumes where the last run left the tree. Every git and
 * publish command is an argv array run without a shell: names from webhooks never meet a parser.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { IdlemeshError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { BASE_ENV } from './constants.ts'
import { execArgv, execChecked, redactCredentials, type ExecOptions } from './exec.ts'

export interface WorkspacesComponents {
  logger: Logger
}

export interface WorkspacesInit {
  /** Directory holding every workspace, e.g. `<dataDir>/workspaces`. */
  root: string
  /** argv prefix that runs git. @default ['git'] */
  git?: string[]
  /** Where an issue's repository is cloned from when the IssueRef names no url. @default 'https://github.com/{owner}/{repo}.git' */
  cloneUrl?: string
  /**
   * argv run in the workspace after a successful task, e.g.
   * `['gh', 'pr', 'create', '--draft', '--head', '{branch}', '--title', '{title}', '--body', '{body}']`.
   * Placeholders: {owner} {repo} {issue} {branch} {taskId} {dir} and the caller's variables.
   * Nothing is published when absent.
   */
  publish?: string[]
  /** Variables git and the publish command get from this process, besides PATH, HOME and LANG. @default DEFAULT_TOOL_ENV */
  envPassThrough?: string[]
  /** Set for git and the publish command on top of what is passed through. */
  env?: Record<string, string>
  /** Limit of each git or publish command, in ms. @default 300_000 (5 min) */
  commandTimeoutMs?: number
}

export interface IssueRef {
  owner: string
  repo: string
  issue: number
  /** Clone URL; the `cloneUrl` template when absent. */
  url?: string
}

export interface Workspace {
  kind: 'task' | 'issue'
  dir: string
  taskId?: string
  owner?: string
  repo?: string
  issue?: number
  /** `issue-N` for issue workspaces. */
  branch?: string
  /** True when this call made the directory (mkdir or clone), false when it reused it (for a clone: fetched). */
  created: boolean
}

export interface PublishResult {
  argv: string[]
  exitCode: number
  stdout: string
  stderr: string
}

export interface Workspaces {
  forTask: (taskId: string) => Promise<Workspace>
  forIssue: (ref: IssueRef, options?: { signal?: AbortSignal }) => Promise<Workspace>
  /**
   * Runs the publish command in the workspace; resolves undefined when none is configured,
   * rejects with WORKSPACE_PUBLISH_FAILED when it exits non-zero.
   */
  publish: (workspace: Workspace, vars?: Record<string, string>, options?: { signal?: AbortSignal }) => Promise<PublishResult | undefined>
}

/** What git and gh need for credentials and ssh. */
export const DEFAULT_TOOL_ENV = ['GH_TOKEN', 'GITHUB_TOKEN', 'SSH_AUTH_SOCK', 'GIT_SSH_COMMAND', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY']
const CLONE_URL = 'https://github.com/{owner}/{repo}.git'
const COMMAND_TIMEOUT_MS = 5 * 60_000 // 5 min per git or publish command

const NAME = /^[A-Za-z0-9_.-]+$/ // GitHub owner and repository names
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/

export function createWorkspaces (components: WorkspacesComponents, init: WorkspacesInit): Workspaces {
  const logger = components.logger
  const root = init.root
  const git = init.git ?? ['git']
  const cloneUrl = init.cloneUrl ?? CLONE_URL
  const timeoutMs = init.commandTimeoutMs ?? COMMAND_TIMEOUT_MS
  const env: Record<string, string> = {}
  for (const name of [...BASE_ENV, ...(init.envPassThrough ?? DEFAULT_TOOL_ENV)]) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  // A credential prompt would wait forever for a person who is not there.
  Object.assign(env, { GIT_TERMINAL_PROMPT: '0' }, init.env)

  const options = (cwd: string | undefined, signal: AbortSignal | undefined): ExecOptions => ({ cwd, env, timeoutMs, signal, logger })

  async function gitIn (dir: string, args: string[], signal?: AbortSignal): Promise<string> {
    return (await execChecked([...git, ...args], options(dir, signal), 'WORKSPACE_GIT_FAILED', `git ${args[0] ?? ''}`)).stdout
  }

  async function hasRef (dir: string, ref: string, signal?: AbortSignal): Promise<boolean> {
    const result = await execArgv([...git, 'rev-parse', '--verify', '--quiet', ref], options(dir, signal))
    return result.exitCode === 0
  }

  return {
    async forTask (taskId) {
      if (!TASK_ID.test(taskId)) throw invalidName('taskId', taskId)
      const dir = join(root, 'tasks', taskId)
      const created = (await mkdir(dir, { recursive: true })) !== undefined
      return { kind: 'task', dir, taskId, created }
    },

    async forIssue (ref, { signal } = {}) {
      for (const [field, value] of [['owner', ref.owner], ['repo', ref.repo]] as const) {
        if (!NAME.test(value) || value === '.' || value === '..') throw invalidName(field, value)
      }
      if (!Number.isSafeInteger(ref.issue) || ref.issue < 1) throw invalidName('issue', String(ref.issue))
      const url = ref.url ?? renderArgv([cloneUrl], { owner: ref.owner, repo: ref.repo })[0] as string
      if (url.startsWith('-')) throw invalidName('url', url)
      const branch = `issue-${ref.issue}`
      const dir = join(root, ref.owner, ref.repo, branch)
      const base = { kind: 'issue' as const, dir, owner: ref.owner, repo: ref.repo, issue: ref.issue, branch }

      let created = false
      if (await isDirectory(join(dir, '.git'))) {
        await gitIn(dir, ['fetch', '--prune', 'origin'], signal)
      } else {
        if (await exists(dir)) {
          throw new IdlemeshError('WORKSPACE_NOT_A_CLONE', `${dir} exists but is not a git clone; move it away and retry`)
        }
        await mkdir(dirname(dir), { recursive: true })
        // Clone beside the target and rename, so an interrupted clone never passes for a workspace.
        const partial = `${dir}.partial-${randomBytes(4).toString('hex')}`
        try {
          await execChecked([...git, 'clone', '--', url, partial], options(dirname(dir), signal), 'WORKSPACE_GIT_FAILED', 'git clone')
          await rename(partial, dir)
        } finally {
          await rm(partial, { recursive: true, force: true })
        }
        created = true
      }

      if (await hasRef(dir, `refs/heads/${branch}`, signal)) {
        await gitIn(dir, ['checkout', branch], signal)
      } else if (await hasRef(dir, `refs/remotes/origin/${branch}`, signal)) {
        await gitIn(dir, ['checkout', '-b', branch, '--track', `origin/${branch}`], signal)
      } else {
        await gitIn(dir, ['checkout', '-b', branch], signal)
      }
      logger.info({ dir, branch, created, url: redactCredentials(url) }, created ? 'runner: workspace cloned' : 'runner: workspace fetched')
      return { ...base, created }
    },

    async publish (workspace, vars = {}, { signal } = {}) {
      if (init.publish === undefined) return undefined
      const argv = renderArgv(init.publish, {
        ...vars,
        dir: workspace.dir,
        ...(workspace.owner === undefined ? {} : { owner: workspace.owner }),
        ...(workspace.repo === undefined ? {} : { repo: workspace.repo }),
        ...(workspace.issue === undefined ? {} : { issue: String(workspace.issue) }),
        ...(workspace.branch === undefined ? {} : { branch: workspace.branch }),
        ...(workspace.taskId === undefined ? {} : { taskId: workspace.taskId })
      })
      const result = await execChecked(argv, options(workspace.dir, signal), 'WORKSPACE_PUBLISH_FAILED', 'the publish command')
      logger.info({ dir: workspace.dir, command: argv[0] }, 'runner: published')
      return { argv, exitCode: 0, stdout: result.stdout, stderr: result.stderr }
    }
  }
}

/**
 * Fills `{name}` placeholders in each element of an argv template. Each element stays one
 * argument whatever the value holds, and an unknown placeholder is an error rather than a
 * silent empty string, so a typo in the config cannot publish something half-formed.
 */
export function renderArgv (template: string[], vars: Record<string, string>): string[] {
  return template.map(part => part.replace(/\{([A-Za-z][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = vars[name]
    if (value === undefined) {
      throw new IdlemeshError('WORKSPACE_TEMPLATE_UNKNOWN', `the command template uses {${name}}, which is not one of ${Object.keys(vars).sort().join(', ')}`)
    }
    return value
  }))
}

function invalidName (field: string, value: string): IdlemeshError {
  return new IdlemeshError('WORKSPACE_INVALID_NAME', `${field} ${JSON.stringify(value)} cannot name a workspace`, { status: 400 })
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

async function isDirectory (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}
