import type { EventProvider, Provider, Scheme } from './config.ts'
import { firstHeader, type WebhookHeaders } from './headers.ts'
import { lookup, stringAt } from './paths.ts'

/** What routing, storage and health need to know about an event, whoever sent it. */
export interface NormalizedEvent {
  provider: EventProvider
  /** e.g. `issues.opened`, `push`, `invoice.paid`; `unknown` when the sender does not say. */
  type: string
  /** GitHub's `action` field, also the suffix of `type`. */
  action?: string
  /** The sender's own id for this delivery, when it gives one. */
  deliveryId?: string
  /** `owner/name`, from GitHub's `repository.full_name`. */
  repo?: string
  /** One line for logs and health output. */
  summary: string
}

const SUMMARY_MAX = 200

/**
 * Reads who sent a (verified, parsed) webhook and what it is about. `provider` skips detection;
 * otherwise: an `x-github-event` header means GitHub; a `stripe-signature` header or a payload
 * with `object: 'event'` means Stripe; a `webhook-id` header means Standard Webhooks; anything
 * else is generic.
 */
export function detectProvider (headers: WebhookHeaders, payload: unknown, provider?: Provider): NormalizedEvent {
  switch (provider ?? guessProvider(headers, payload)) {
    case 'github':
      return github(headers, payload)
    case 'stripe':
      return typed('stripe', stringAt(payload, 'type'), stringAt(payload, 'id'), stringAt(payload, 'data.object.id'))
    case 'standard':
      return typed('standard', stringAt(payload, 'type'), firstHeader(headers, 'webhook-id'))
    case 'generic':
      return typed('generic', firstHeader(headers, 'x-event-type') ?? stringAt(payload, 'type'), firstHeader(headers, 'x-event-id'))
  }
}

/**
 * The provider a signature scheme vouches for: a request that passed GitHub's, Stripe's or
 * Standard Webhooks' check came from such a sender, whatever its other headers claim.
 */
export function providerOfScheme (scheme: Scheme): Provider | undefined {
  return scheme === 'github' || scheme === 'stripe' || scheme === 'standard' ? scheme : undefined
}

function guessProvider (headers: WebhookHeaders, payload: unknown): Provider {
  if (firstHeader(headers, 'x-github-event') !== undefined) return 'github'
  if (firstHeader(headers, 'stripe-signature') !== undefined || lookup(payload, 'object') === 'event') return 'stripe'
  if (firstHeader(headers, 'webhook-id') !== undefined) return 'standard'
  return 'generic'
}

function github (headers: WebhookHeaders, payload: unknown): NormalizedEvent {
  const name = firstHeader(headers, 'x-github-event') ?? 'unknown'
  const action = stringAt(payload, 'action')
  const type = action === undefined ? name : `${name}.${action}`
  const repo = stringAt(payload, 'repository.full_name')
  const event: NormalizedEvent = { provider: 'github', type, summary: clip(`${type} ${githubSubject(name, payload, repo)}`) }
  if (action !== undefined) event.action = action
  const deliveryId = firstHeader(headers, 'x-github-delivery')
  if (deliveryId !== undefined) event.deliveryId = deliveryId
  if (repo !== undefined) event.repo = repo
  return event
}

function githubSubject (name: string, payload: unknown, repo: string | undefined): string {
  const where = repo ?? stringAt(payload, 'organization.login') ?? ''
  if (name === 'push') {
    const commits = lookup(payload, 'commits')
    const count = Array.isArray(commits) ? commits.length : 0
    const head = firstLine(stringAt(payload, 'head_commit.message'))
    return `${where} ${stringAt(payload, 'ref') ?? ''}: ${count} commit${count === 1 ? '' : 's'}${head === '' ? '' : `, head "${head}"`}`
  }
  if (name === 'ping') return `${where}: ${stringAt(payload, 'zen') ?? ''}`
  const item = stringAt(payload, 'issue.title') !== undefined ? 'issue' : 'pull_request'
  const number = lookup(payload, `${item}.number`)
  const title = firstLine(stringAt(payload, `${item}.title`))
  if (typeof number !== 'number') return where
  const by = name === 'issue_comment' ? ` by ${stringAt(payload, 'sender.login') ?? 'unknown'}` : ''
  return `${where}#${number} "${title}"${by}`
}

function typed (provider: Provider, type: string | undefined, deliveryId?: string, subject?: string): NormalizedEvent {
  const event: NormalizedEvent = { provider, type: type ?? 'unknown', summary: clip(`${type ?? 'unknown'}${subject === undefined ? '' : ` ${subject}`}`) }
  if (deliveryId !== undefined) event.deliveryId = deliveryId
  return event
}

function firstLine (text: string | undefined): string {
  return (text ?? '').split('\n', 1)[0]?.trim() ?? ''
}

function clip (text: string): string {
  return text.length <= SUMMARY_MAX ? text : `${text.slice(0, SUMMARY_MAX - 1)}…`
}
