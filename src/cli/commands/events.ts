import { type Command, InvalidArgumentError } from 'commander'
import type { EventSummary, EventView } from '../../events/view.ts'
import { createApiClient, type ApiClient, type NodeTarget } from '../client.ts'
import { renderTable, shortPeerId } from '../format.ts'
import { oneLineErrors } from './checkpoint.ts'

interface TargetOptions extends NodeTarget {
  json?: boolean
}

/** How often --follow asks the node: 1 s. */
const FOLLOW_INTERVAL_MS = 1000
/** Keys --follow remembers having printed (the oldest are forgotten first). */
const FOLLOW_MEMORY = 10_000
const SUMMARY_WIDTH = 70

export function withTarget (command: Command): Command {
  return command
    .option('--node <url>', 'HTTP API of the node to ask (default: the node of --data-dir)')
    .option('--data-dir <dir>', 'ask the node running on this data dir')
    .option('--token <token>', 'API token (default: $IDLEMESH_API_TOKEN)')
}

export function positiveInt (max: number) {
  return (value: string): number => {
    const n = /^[0-9]{1,9}$/.test(value) ? Number(value) : NaN
    if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`must be an integer from 1 to ${max}`)
    return n
  }
}

export function query (params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== false) search.set(key, value === true ? '1' : String(value))
  }
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}

function clip (text: string, width: number): string {
  const line = text.replace(/\s+/g, ' ')
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`
}

function actionsCell (actions: EventSummary['actions']): string {
  return actions.length === 0 ? '-' : actions.map(a => `${a.kind}:${a.state}`).join(' ')
}

export function renderEventList (events: EventSummary[]): string {
  if (events.length === 0) return 'no events yet'
  return renderTable(
    ['RECEIVED', 'SOURCE', 'ID', 'TYPE', 'RULE', 'STATUS', 'ACTIONS', 'SUMMARY'],
    events.map(e => [e.receivedAt, e.source, e.id, e.type, e.rule, e.status, actionsCell(e.actions), clip(e.summary, SUMMARY_WIDTH)])
  )
}

/** One line per event for --follow: new events, and events whose status changed. */
export function renderEventLine (e: EventSummary, changed: boolean): string {
  return [changed ? 'update' : 'new   ', e.receivedAt, e.status, `${e.source}/${e.id}`, e.type, e.rule, actionsCell(e.actions), clip(e.summary, SUMMARY_WIDTH)].join('  ')
}

export function renderEvent (view: EventView, withPayload: boolean): string {
  const e = view.event
  const lines = [
    `event ${e.key}: ${e.type} (${e.provider}), ${view.status}`,
    `  ${e.summary}`,
    `  received ${e.receivedAt} by ${e.receivedBy}`,
    ...(e.deliveryId === null ? [] : [`  delivery ${e.deliveryId}`]),
    `  routing: rule ${view.routing.rule}${view.routing.skipped === null ? '' : `, skipped: ${view.routing.skipped}`}`
  ]
  if (view.owner !== null) lines.push(`  owner (runs what is left): ${view.owner}`)
  if (view.actions.length > 0) {
    lines.push('', renderTable(['#', 'KIND', 'STATE', 'ATTEMPT', 'BY', 'FINISHED', 'RESULT'], view.actions.map(a => [
      String(a.index),
      a.kind,
      a.state,
      String(a.attempt),
      a.by === null ? '-' : shortPeerId(a.by),
      a.finishedAt ?? '-',
      clip(a.error ?? (a.result === null ? '' : JSON.stringify(a.result)), SUMMARY_WIDTH)
    ])))
  }
  if (withPayload) lines.push('', 'payload:', JSON.stringify(e.payload, null, 2))
  return lines.join('\n')
}

/**
 * Polls `fetchPage` every interval and prints what is new, oldest first, until the process is
 * stopped. A node that cannot be reached is reported once and asked again.
 */
export async function follow<T> (options: {
  fetchPage: () => Promise<T[]>
  key: (item: T) => string
  /** A string that changes when the item is worth printing again (e.g. its status). */
  version?: (item: T) => string
  print: (item: T, changed: boolean) => void
  intervalMs: number
}): Promise<never> {
  const seen = new Map<string, string>()
  let unreachable = false
  for (;;) {
    try {
      const page = await options.fetchPage()
      unreachable = false
      for (const item of [...page].reverse()) {
        const k = options.key(item)
        const v = options.version?.(item) ?? ''
        const before = seen.get(k)
        if (before === v) continue
        seen.delete(k)
        seen.set(k, v)
        if (seen.size > FOLLOW_MEMORY) seen.delete(seen.keys().next().value as string)
        options.print(item, before !== undefined)
      }
    } catch (err) {
      if ((err as { code?: string }).code !== 'NODE_UNREACHABLE') throw err
      if (!unreachable) process.stderr.write(`idlemesh: ${(err as Error).message}; retrying\n`)
      unreachable = true
    }
    await new Promise(resolve => setTimeout(resolve, options.intervalMs))
  }
}

async function listEvents (client: ApiClient, opts: { source?: string, limit?: number }): Promise<EventSummary[]> {
  const { body } = await client.request<{ events: EventSummary[] }>('GET', `/events${query({ source: opts.source, limit: opts.limit })}`)
  return body.events
}

export function registerEvents (program: Command): void {
  oneLineErrors(withTarget(program.command('events')
    .description('list the events this node holds (webhooks, cron fires, messages), newest first')
    .option('--source <name>', 'only events of this source (a webhook source, cron or message)')
    .option('--limit <n>', 'how many (default 50)', positiveInt(1000))
    .option('--follow', 'keep printing new events and status changes, oldest first, until interrupted')
    .option('--interval <ms>', 'with --follow: how often to ask the node (default 1000)', positiveInt(3_600_000))
    .option('--json', 'print JSON (with --follow: one object per line)')))
    .action(async (opts: TargetOptions & { source?: string, limit?: number, follow?: boolean, interval?: number }) => {
      const client = createApiClient(opts)
      if (opts.follow === true) {
        await follow({
          fetchPage: async () => await listEvents(client, { source: opts.source, limit: opts.limit ?? 100 }),
          key: e => e.key,
          version: e => `${e.status} ${actionsCell(e.actions)}`,
          print: (e, changed) => { process.stdout.write((opts.json === true ? JSON.stringify(e) : renderEventLine(e, changed)) + '\n') },
          intervalMs: opts.interval ?? FOLLOW_INTERVAL_MS
        })
      }
      const events = await listEvents(client, { source: opts.source, limit: opts.limit })
      process.stdout.write((opts.json === true ? JSON.stringify({ events }, null, 2) : renderEventList(events)) + '\n')
    })

  oneLineErrors(withTarget(program.command('event')
    .description('show one event: what it was, how it was routed, what became of each action')
    .argument('<id>', "the event's id (X-GitHub-Delivery, webhook-id, a cron fire id, a message id…)")
    .option('--source <name>', 'the source, when several sent an event with this id')
    .option('--payload', 'print the payload too')
    .option('--json', 'print the event as JSON')))
    .action(async (id: string, opts: TargetOptions & { source?: string, payload?: boolean }) => {
      const client = createApiClient(opts)
      const { body } = await client.request<EventView>('GET', `/events/${encodeURIComponent(id)}${query({ source: opts.source })}`)
      process.stdout.write((opts.json === true ? JSON.stringify(body, null, 2) : renderEvent(body, opts.payload === true)) + '\n')
    })
}
