import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sign } from '@octokit/webhooks-methods'
import type { ConfigInput } from '../../src/config/index.ts'
import { eventKey, ownerOf, type EventView } from '../../src/events/index.ts'

export const GITHUB_SECRET = "It's a Secret to Everybody"
/** A `command` action that appends "<event key> <peer ID>" to the file it is given. */
export const RECORD_RUN = join(import.meta.dirname, 'fixtures', 'record-run.sh')

/**
 * Webhook and event settings for mesh tests: a GitHub source `gh`, and for `issues.*` events a
 * command that records each run in `runsFile` followed by a checkpoint on stream
 * `runs/<repository name>` (the command sleeps `commandSleepSeconds` after recording its run);
 * timings short enough for tests.
 */
export function meshEventsConfig (runsFile: string, options: { ackReplicas?: number, cron?: ConfigInput['cron'], commandSleepSeconds?: number } = {}): ConfigInput {
  return {
    webhooks: {
      sources: { gh: { scheme: 'github', secrets: [GITHUB_SECRET], ackReplicas: options.ackReplicas ?? 0 } },
      commands: { allowed: ['/bin/sh'] },
      rules: [{
        name: 'count-runs',
        match: { type: ['issues.*', 'cron.*'] },
        actions: [
          { kind: 'command', argv: ['/bin/sh', RECORD_RUN, runsFile, ...(options.commandSleepSeconds === undefined ? [] : [String(options.commandSleepSeconds)])], timeoutMs: 10_000 },
          { kind: 'checkpoint', stream: 'runs/{{ payload.repository.name }}', label: '{{ event.type }} {{ event.id }}' }
        ]
      }]
    },
    ...(options.cron === undefined ? {} : { cron: options.cron }),
    events: { startupSettleMs: 300, syncIntervalMs: 1000, claimSettleMs: 30, cronTickMs: 200 }
  }
}

/** Writes `config` where `idlemesh start` finds it (DATA_DIR/config.yaml; JSON is YAML). */
export function writeNodeConfig (dataDir: string, config: ConfigInput): void {
  writeFileSync(join(dataDir, 'config.yaml'), JSON.stringify(config, null, 2))
}

export interface Delivery {
  id: string
  headers: Record<string, string>
  body: string
}

/** A delivery signed as GitHub signs it (X-Hub-Signature-256 over the exact body). */
export async function githubDelivery (event: string, payload: unknown, id: string = randomUUID(), secret = GITHUB_SECRET): Promise<Delivery> {
  const body = JSON.stringify(payload)
  return {
    id,
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': id,
      'x-hub-signature-256': await sign(secret, body)
    }
  }
}

export async function postWebhook (baseUrl: string, path: string, delivery: Delivery): Promise<{ status: number, body: any }> {
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: delivery.headers, body: delivery.body, signal: AbortSignal.timeout(15_000) })
  return { status: response.status, body: await response.json() }
}

/** GET /events/:id on a node; undefined while it does not hold the event. */
export async function eventOn (baseUrl: string, id: string, source = 'gh'): Promise<EventView | undefined> {
  const response = await fetch(`${baseUrl}/events/${encodeURIComponent(id)}?source=${source}`, { signal: AbortSignal.timeout(5000) })
  if (response.status === 404) return undefined
  if (!response.ok) throw new Error(`GET /events/${id}: HTTP ${response.status} ${await response.text()}`)
  return await response.json() as EventView
}

/** Lines of the runs file: one per command run, "<event key> <peer ID>". */
export function runsOf (file: string): Array<{ key: string, peerId: string }> {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(l => l.trim() !== '').map(line => {
    const cut = line.lastIndexOf(' ')
    return { key: line.slice(0, cut), peerId: line.slice(cut + 1) }
  })
}

/** A fresh delivery id whose event `owner` owns among `members` (rendezvous), to steer a test. */
export function idOwnedBy (owner: string, members: string[], source = 'gh'): string {
  for (;;) {
    const id = randomUUID()
    if (ownerOf(eventKey(source, id), members) === owner) return id
  }
}

/** An `issues.opened` payload for repository `name`, as GitHub shapes it (the fields routing reads). */
export function issuePayload (name: string, number = 1): Record<string, unknown> {
  return {
    action: 'opened',
    issue: { number, title: `Issue ${number}`, body: 'Something is broken', html_url: `https://github.com/acme/${name}/issues/${number}`, user: { login: 'octocat', type: 'User' } },
    repository: { name, full_name: `acme/${name}`, clone_url: `https://github.com/acme/${name}.git` },
    sender: { login: 'octocat', type: 'User' }
  }
}
