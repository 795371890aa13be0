import { readFileSync } from 'node:fs'
import { type Command, InvalidArgumentError } from 'commander'
import { IdlemeshError } from '../../errors.ts'
import type { TaskView } from '../../tasks/view.ts'
import type { TaskLogEntry } from '../../tasks/index.ts'
import { createApiClient, resolveNodeUrl, type NodeTarget } from '../client.ts'
import { formatDuration, renderTable, shortPeerId } from '../format.ts'
import { oneLineErrors } from './checkpoint.ts'

interface TargetOptions extends NodeTarget {
  json?: boolean
}

const STATUSES = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled', 'dead']
const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'dead'])

function withTarget (command: Command): Command {
  return command
    .option('--node <url>', 'HTTP API of the node to ask (default: the node of --data-dir)')
    .option('--data-dir <dir>', 'ask the node running on this data dir')
    .option('--token <token>', 'API token (default: $IDLEMESH_API_TOKEN)')
}

function positiveInt (value: string): number {
  const n = /^[0-9]{1,9}$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer')
  return n
}

function positiveNumber (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number above 0')
  return n
}

function usd (value: number): string {
  return `$${value.toFixed(value >= 1 ? 2 : 4)}`
}

function ago (ms: number, now = Date.now()): string {
  return `${formatDuration(Math.max(0, now - ms))} ago`
}

export function renderTaskList (tasks: TaskView[]): string {
  if (tasks.length === 0) return 'no tasks'
  const now = Date.now()
  const rows = tasks.map(t => [
    t.id,
    t.status,
    t.node === undefined ? '-' : shortPeerId(t.node),
    String(t.attemptCount),
    usd(t.costUsd),
    ago(t.createdAt, now),
    t.conversation ?? '',
    (t.waiting ?? t.reason ?? t.prompt).replace(/\s+/g, ' ').slice(0, 60)
  ])
  return renderTable(['ID', 'STATUS', 'NODE', 'TRIES', 'COST', 'CREATED', 'CONVERSATION', 'NOTE'], rows)
}

export function renderTask (t: TaskView): string {
  const lines = [
    `task ${t.id}: ${t.status}${t.code === undefined ? '' : ` (${t.code})`}`,
    `  created ${new Date(t.createdAt).toISOString()} by ${t.createdBy}${t.origin.kind === 'event' ? ` from event ${t.origin.source}/${t.origin.eventId}` : ''}`,
    `  coordinator ${t.coordinator} (epoch ${t.coordinatorEpoch})`,
    `  cost ${usd(t.costUsd)} over ${t.attemptCount} attempt${t.attemptCount === 1 ? '' : 's'}; stream ${t.stream}`
  ]
  if (t.conversation !== undefined) lines.push(`  conversation ${t.conversation}${t.sessionId === undefined ? '' : `, session ${t.sessionId}`}`)
  if (t.repo !== undefined) lines.push(`  repo ${t.repo}${t.issue === undefined ? '' : ` issue #${t.issue.number}`}`)
  if (t.waiting !== undefined) lines.push(`  waiting: ${t.waiting}`)
  if (t.reason !== undefined) lines.push(`  reason: ${t.reason}`)
  if (t.cancel !== undefined) lines.push(`  cancel requested ${new Date(t.cancel.at).toISOString()} by ${t.cancel.by}`)
  if (t.attempts.length > 0) {
    lines.push('', renderTable(['#', 'NODE', 'STATUS', 'STARTED', 'TOOK', 'COST', 'CODE'], t.attempts.map(a => [
      String(a.n),
      shortPeerId(a.node),
      a.status,
      a.startedAt === undefined ? '-' : new Date(a.startedAt).toISOString(),
      a.startedAt === undefined || a.endedAt === undefined ? '-' : formatDuration(a.endedAt - a.startedAt),
      a.costUsd === undefined ? '-' : usd(a.costUsd),
      a.code ?? (a.publish === undefined ? '' : a.publish.ok ? 'published' : 'publish failed')
    ])))
  }
  lines.push('', 'prompt:', indent(t.prompt))
  if (t.result !== undefined) lines.push('', 'result:', indent(t.result))
  return lines.join('\n')
}

function indent (text: string): string {
  return text.split('\n').map(l => `  ${l}`).join('\n')
}

/** A log line for people: the text of assistant messages and results, other lines as they are. */
export function renderLogLine (entry: TaskLogEntry): string {
  if (entry.stream === 'stderr') return `[stderr] ${entry.text}`
  try {
    const message = JSON.parse(entry.text) as { type?: string, subtype?: string, message?: { content?: Array<{ type?: string, text?: string, name?: string }> }, result?: string, session_id?: string }
    if (message.type === 'assistant') {
      const parts = (message.message?.content ?? []).map(c => c.type === 'text' ? c.text ?? '' : c.type === 'tool_use' ? `[tool ${c.name ?? '?'}]` : '').filter(p => p !== '')
      return `assistant: ${parts.join(' ')}`
    }
    if (message.type === 'result') return `result (${message.subtype ?? '?'}): ${message.result ?? ''}`
    if (message.type === 'system') return `system ${message.subtype ?? ''}: session ${message.session_id ?? '?'}`
    if (message.type === 'user') return 'user: [tool result]'
  } catch {}
  return entry.text
}

async function readPrompt (opts: { prompt?: string, promptFile?: string }): Promise<string> {
  if (opts.prompt !== undefined && opts.promptFile !== undefined) throw new IdlemeshError('CLI_USAGE', 'give --prompt or --prompt-file, not both', { status: 400 })
  if (opts.promptFile !== undefined) {
    if (opts.promptFile === '-') {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    }
    return readFileSync(opts.promptFile, 'utf8')
  }
  if (opts.prompt === undefined) throw new IdlemeshError('CLI_USAGE', 'give the prompt: --prompt TEXT or --prompt-file FILE (- for stdin)', { status: 400 })
  return opts.prompt
}

export function registerTasks (program: Command): void {
  const task = oneLineErrors(program.command('task')
    .description('submit Claude Code tasks to the mesh, show them, follow their logs, cancel them'))

  withTarget(task.command('submit')
    .description('submit a task: the mesh runs it on the least-loaded node')
    .option('--prompt <text>', 'what Claude Code should do')
    .option('--prompt-file <file>', 'read the prompt from a file (- for stdin)')
    .option('--repo <url>', 'clone URL of the repository to work in (with --issue or --conversation owner/repo#N: a clone on branch issue-N)')
    .option('--issue <n>', 'the GitHub issue number worked on', positiveInt)
    .option('--conversation <key>', 'follow-ups with the same key resume one session, e.g. owner/repo#42')
    .option('--id <id>', 'task id (default: generated); submitting an existing id returns that task')
    .option('--stream <name>', 'cost grouping (default: owner/repo of --repo)')
    .option('--model <name>', 'passed to the CLI as --model')
    .option('--max-turns <n>', 'passed to the CLI as --max-turns', positiveInt)
    .option('--max-budget-usd <usd>', 'passed to the CLI as --max-budget-usd', positiveNumber)
    .option('--wait', 'wait until the task is finished and print it')
    .option('--json', 'print the task as JSON'))
    .action(async (opts: TargetOptions & { prompt?: string, promptFile?: string, repo?: string, issue?: number, conversation?: string, id?: string, stream?: string, model?: string, maxTurns?: number, maxBudgetUsd?: number, wait?: boolean }) => {
      const prompt = await readPrompt(opts)
      const client = createApiClient(opts)
      const body: Record<string, unknown> = { prompt }
      for (const key of ['repo', 'issue', 'conversation', 'id', 'stream', 'model', 'maxTurns', 'maxBudgetUsd'] as const) {
        if (opts[key] !== undefined) body[key] = opts[key]
      }
      const { body: answer } = await client.request<{ task: TaskView, duplicate: boolean }>('POST', '/tasks', { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
      let view = answer.task
      if (opts.wait === true) {
        while (!FINAL.has(view.status)) {
          await new Promise(resolve => setTimeout(resolve, 500))
          view = (await client.request<{ task: TaskView }>('GET', `/tasks/${encodeURIComponent(view.id)}`)).body.task
        }
      }
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(view, null, 2) + '\n')
      } else if (opts.wait === true) {
        process.stdout.write(renderTask(view) + '\n')
      } else {
        process.stdout.write(`${answer.duplicate ? 'already submitted' : 'submitted'}: ${view.id} (${view.status})\n`)
      }
      if (opts.wait === true && view.status !== 'succeeded') process.exitCode = 1
    })

  withTarget(task.command('show')
    .description('show a task: status, attempts and where they ran, cost, result')
    .argument('<id>', 'task id')
    .option('--json', 'print the task as JSON'))
    .action(async (id: string, opts: TargetOptions) => {
      const { body } = await createApiClient(opts).request<{ task: TaskView }>('GET', `/tasks/${encodeURIComponent(id)}`)
      process.stdout.write(opts.json === true ? JSON.stringify(body.task, null, 2) + '\n' : renderTask(body.task) + '\n')
    })

  withTarget(task.command('logs')
    .description('print a task\'s output (every attempt, from whichever node ran it)')
    .argument('<id>', 'task id')
    .option('--follow', 'keep printing until the task is finished')
    .option('--attempt <n>', 'only this attempt', positiveInt)
    .option('--raw', 'print the CLI\'s lines as they are (stream-json)')
    .option('--json', 'print one JSON object per line, with attempt, node and time'))
    .action(async (id: string, opts: TargetOptions & { follow?: boolean, attempt?: number, raw?: boolean }) => {
      const baseUrl = resolveNodeUrl(opts)
      const token = opts.token ?? process.env.IDLEMESH_API_TOKEN
      const query = new URLSearchParams()
      if (opts.follow === true) query.set('follow', '1')
      if (opts.attempt !== undefined) query.set('attempt', String(opts.attempt))
      let response: Response
      try {
        response = await fetch(`${baseUrl}/tasks/${encodeURIComponent(id)}/logs?${query.toString()}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
      } catch (err) {
        throw new IdlemeshError('NODE_UNREACHABLE', `cannot reach the node at ${baseUrl}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`, { status: 503 })
      }
      if (!response.ok) {
        const error = (await response.json().catch(() => ({})) as { error?: { code?: string, message?: string } }).error
        throw new IdlemeshError(error?.code ?? 'HTTP_ERROR', error?.message ?? `HTTP ${response.status}`, { status: response.status })
      }
      const decoder = new TextDecoder()
      let partial = ''
      let attempt = 0
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) {
          if (line === '') continue
          const entry = JSON.parse(line) as TaskLogEntry
          if (opts.json === true) {
            process.stdout.write(line + '\n')
            continue
          }
          if (entry.attempt !== attempt) {
            attempt = entry.attempt
            process.stdout.write(`--- attempt ${attempt} on ${shortPeerId(entry.node)}\n`)
          }
          process.stdout.write((opts.raw === true ? entry.text : renderLogLine(entry)) + '\n')
        }
      }
    })

  withTarget(task.command('cancel')
    .description('cancel a task; a running one is killed wherever it runs')
    .argument('<id>', 'task id')
    .option('--reason <text>', 'why (kept in the task)')
    .option('--json', 'print the task as JSON'))
    .action(async (id: string, opts: TargetOptions & { reason?: string }) => {
      const query = new URLSearchParams({ wait: '15000', ...(opts.reason === undefined ? {} : { reason: opts.reason }) })
      const { body } = await createApiClient(opts).request<{ task: TaskView, ended: boolean }>('DELETE', `/tasks/${encodeURIComponent(id)}?${query.toString()}`, { timeoutMs: 30_000 })
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(body, null, 2) + '\n')
        return
      }
      const t = body.task
      if (t.status === 'cancelled') process.stdout.write(`cancelled: ${t.id}\n`)
      else if (!body.ended) process.stdout.write(`cancel requested: ${t.id} (${t.status}); its run is being stopped\n`)
      else process.stdout.write(`${t.id} had already finished: ${t.status}\n`)
    })

  withTarget(oneLineErrors(program.command('tasks'))
    .description('list tasks (newest first) as this node knows them: every node holds every task')
    .option('--status <status>', `only these statuses, comma-separated: ${STATUSES.join(', ')}`)
    .option('--conversation <key>', 'only this conversation')
    .option('--limit <n>', 'at most this many (default 100)', positiveInt)
    .option('--json', 'print the list as JSON'))
    .action(async (opts: TargetOptions & { status?: string, conversation?: string, limit?: number }) => {
      const query = new URLSearchParams({ limit: String(opts.limit ?? 100) })
      if (opts.status !== undefined) query.set('status', opts.status)
      if (opts.conversation !== undefined) query.set('conversation', opts.conversation)
      const { body } = await createApiClient(opts).request<{ tasks: TaskView[] }>('GET', `/tasks?${query.toString()}`)
      process.stdout.write(opts.json === true ? JSON.stringify(body, null, 2) + '\n' : renderTaskList(body.tasks) + '\n')
    })
}
