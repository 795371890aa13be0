import { readFileSync } from 'node:fs'
import { type Command, InvalidArgumentError } from 'commander'
import type { Message } from '../../events/messages.ts'
import { IdlemeshError } from '../../errors.ts'
import { createApiClient, type ApiClient, type NodeTarget } from '../client.ts'
import { shortPeerId } from '../format.ts'
import { oneLineErrors } from './checkpoint.ts'
import { follow, positiveInt, query, withTarget } from './events.ts'

interface TargetOptions extends NodeTarget {
  json?: boolean
}

const PRIORITIES = ['low', 'normal', 'high', 'urgent']
const FOLLOW_INTERVAL_MS = 1000

function priority (value: string): string {
  if (!PRIORITIES.includes(value)) throw new InvalidArgumentError(`must be one of ${PRIORITIES.join(', ')}`)
  return value
}

function jsonObject (value: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    throw new InvalidArgumentError('must be a JSON object, e.g. \'{"issue":42}\'')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('must be a JSON object, e.g. \'{"issue":42}\'')
  return parsed as Record<string, unknown>
}

export function renderMessage (m: Message): string {
  const to = m.to === 'all' ? 'all' : shortPeerId(m.to)
  const head = `${m.sentAt}  [${m.priority}] ${m.type}  ${shortPeerId(m.from)} -> ${to}: ${m.subject}${m.deadline === undefined ? '' : `  (due ${m.deadline})`}`
  const lines = [head]
  if (m.body !== undefined && m.body !== '') lines.push(...m.body.split('\n').map(l => `    ${l}`))
  if (m.context !== undefined) lines.push(`    context: ${JSON.stringify(m.context)}`)
  lines.push(`    id ${m.id}`)
  return lines.join('\n')
}

async function listMessages (client: ApiClient, opts: { all?: boolean, limit?: number }): Promise<Message[]> {
  const { body } = await client.request<{ messages: Message[] }>('GET', `/messages${query({ all: opts.all, limit: opts.limit })}`)
  return body.messages
}

export function registerMessages (program: Command): void {
  const message = oneLineErrors(program.command('message')
    .description('send typed, addressed notes to other nodes (and the people or agents behind them)'))

  withTarget(message.command('send')
    .description('send a message over the mesh to one node or to all')
    .requiredOption('--to <peer>', "a peer ID (see 'idlemesh health') or all")
    .requiredOption('--type <type>', 'what kind of note, e.g. handoff, question, alert')
    .requiredOption('--subject <text>', 'one line')
    .option('--body <text>', 'the message text')
    .option('--body-file <file>', 'read the body from a file (- for stdin)')
    .option('--priority <p>', `${PRIORITIES.join(' | ')} (default normal)`, priority)
    .option('--context <json>', 'a JSON object of context, e.g. \'{"repo":"acme/api","issue":42}\'', jsonObject)
    .option('--deadline <time>', 'when an answer is due, ISO 8601 (e.g. 2025-06-01T18:00:00Z)')
    .option('--json', 'print the sent message as JSON'))
    .action(async (opts: TargetOptions & { to: string, type: string, subject: string, body?: string, bodyFile?: string, priority?: string, context?: Record<string, unknown>, deadline?: string }) => {
      if (opts.body !== undefined && opts.bodyFile !== undefined) throw new IdlemeshError('CLI_USAGE', 'give --body or --body-file, not both', { status: 400 })
      let body = opts.body
      if (opts.bodyFile !== undefined) body = opts.bodyFile === '-' ? readFileSync(0, 'utf8') : readFileSync(opts.bodyFile, 'utf8')
      const client = createApiClient(opts)
      const payload = {
        to: opts.to,
        type: opts.type,
        subject: opts.subject,
        ...(body === undefined ? {} : { body }),
        ...(opts.priority === undefined ? {} : { priority: opts.priority }),
        ...(opts.context === undefined ? {} : { context: opts.context }),
        ...(opts.deadline === undefined ? {} : { deadline: opts.deadline })
      }
      const { body: sent } = await client.request<Message>('POST', '/messages', { body: JSON.stringify(payload), headers: { 'content-type': 'application/json' } })
      process.stdout.write(opts.json === true ? JSON.stringify(sent, null, 2) + '\n' : `sent message ${sent.id} to ${sent.to}\n`)
    })

  oneLineErrors(withTarget(program.command('messages')
    .description('list the messages to this node (or to all), newest first')
    .option('--all', 'every message in the mesh, whoever it is for')
    .option('--limit <n>', 'how many (default 50)', positiveInt(1000))
    .option('--follow', 'keep printing new messages, oldest first, until interrupted')
    .option('--interval <ms>', 'with --follow: how often to ask the node (default 1000)', positiveInt(3_600_000))
    .option('--json', 'print JSON (with --follow: one object per line)')))
    .action(async (opts: TargetOptions & { all?: boolean, limit?: number, follow?: boolean, interval?: number }) => {
      const client = createApiClient(opts)
      if (opts.follow === true) {
        await follow({
          fetchPage: async () => await listMessages(client, { all: opts.all, limit: opts.limit ?? 100 }),
          key: m => m.id,
          print: (m) => { process.stdout.write((opts.json === true ? JSON.stringify(m) : renderMessage(m)) + '\n') },
          intervalMs: opts.interval ?? FOLLOW_INTERVAL_MS
        })
      }
      const messages = await listMessages(client, { all: opts.all, limit: opts.limit })
      if (opts.json === true) {
        process.stdout.write(JSON.stringify({ messages }, null, 2) + '\n')
        return
      }
      process.stdout.write((messages.length === 0 ? 'no messages' : messages.map(renderMessage).join('\n')) + '\n')
    })
}
