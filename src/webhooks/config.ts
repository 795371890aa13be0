import { z } from 'zod'
import { Cron } from 'croner'
import { webhookError } from './errors.ts'
import { PATH_PATTERN } from './paths.ts'
import { templateProblem } from './template.ts'

/** How a source proves a request came from it. `none` accepts anything and must be chosen explicitly. */
export const SCHEMES = ['github', 'standard', 'stripe', 'generic', 'none'] as const
/** Who sent an event over HTTP; decides how its type is read from headers and payload. */
export const PROVIDERS = ['github', 'stripe', 'standard', 'generic'] as const
/** Every provider an event can carry, including events made by the cron scheduler. */
export const EVENT_PROVIDERS = [...PROVIDERS, 'cron'] as const

const SECOND_MS = 1000
const DAY_MS = 24 * 60 * 60 * SECOND_MS

/**
 * Slack on top of the signature window that dedupe records must outlive: clock skew between the
 * sender and our nodes, and between our nodes. 5 min.
 */
export const DEDUPE_MARGIN_MS = 5 * 60 * SECOND_MS

const template = z.string().superRefine((value, ctx) => {
  const problem = templateProblem(value)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
})

const path = z.string().regex(PATH_PATTERN, 'a dotted path such as payload.sender.login')

// Source names are a URL path segment (`/webhook/:source`) and job names part of fire ids.
const name = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, '1 to 64 letters, digits, dots, dashes or underscores')

export const sourceSchema = z.strictObject({
  scheme: z.enum(SCHEMES),
  /** Every secret is tried, so during a rotation the old and the new one are both listed. */
  secrets: z.array(z.string().min(1)).default([]),
  /** How far a signed timestamp (Standard Webhooks, Stripe) may be from our clock, either way. */
  toleranceSeconds: z.number().int().positive().default(300), // 5 min
  /** Other nodes that must confirm a durable copy before the sender gets its 202. */
  ackReplicas: z.number().int().min(0).default(0),
  /** Skips provider detection; by default github, stripe and standard schemes imply theirs. */
  provider: z.enum(PROVIDERS).optional()
}).superRefine((source, ctx) => {
  const secretIssue = (message: string, index?: number): void => {
    ctx.addIssue({ code: 'custom', message, path: index === undefined ? ['secrets'] : ['secrets', index] })
  }
  if (source.scheme === 'none') {
    if (source.secrets.length > 0) secretIssue("scheme 'none' checks no signature: remove the secrets or pick a signature scheme")
    return
  }
  if (source.secrets.length === 0) secretIssue(`scheme '${source.scheme}' needs at least one secret`)
  for (const [index, secret] of source.secrets.entries()) {
    if (source.scheme === 'standard' && !isStandardSecret(secret)) {
      secretIssue("a Standard Webhooks secret is 'whsec_' followed by base64, as the sender shows it", index)
    }
    if (source.scheme === 'stripe' && !secret.startsWith('whsec_')) {
      secretIssue("a Stripe endpoint secret starts with 'whsec_' (an API key does not belong here)", index)
    }
  }
})

function isStandardSecret (secret: string): boolean {
  return /^whsec_(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/.test(secret)
}

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()])

/**
 * A test on the value at `path` in `{ event, payload }` (e.g. `payload.sender.type`), with exactly
 * one operator. `exists: true` holds when the value is present and not null.
 */
export const conditionSchema = z.union([
  z.strictObject({ path, equals: scalar }),
  z.strictObject({ path, oneOf: z.array(scalar) }),
  z.strictObject({ path, glob: z.string() }),
  z.strictObject({ path, exists: z.boolean() })
], { error: 'a condition is { path } with exactly one of equals, oneOf, glob or exists' })

const matchSchema = z.strictObject({
  /** The configured source name the event arrived on (`cron` for cron jobs). */
  source: z.string().optional(),
  provider: z.enum(EVENT_PROVIDERS).optional(),
  /** Event type, exact or glob (`issues.*`); a list matches if any entry does. */
  type: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** Every condition must hold. */
  where: z.array(conditionSchema).default([])
})

const noopAction = z.strictObject({ kind: z.literal('noop') })

const checkpointAction = z.strictObject({
  kind: z.literal('checkpoint'),
  stream: template,
  label: template.optional(),
  message: template.optional()
})

const taskAction = z.strictObject({
  kind: z.literal('task'),
  prompt: template,
  /** Repository to clone into the task's workspace. */
  repo: template.optional(),
  /** Follow-ups with the same key resume the same Claude Code session (e.g. `owner/repo#42`). */
  conversation: template.optional(),
  branch: template.optional()
})

const commandAction = z.strictObject({
  kind: z.literal('command'),
  /**
   * Never templated: the event reaches the command as JSON on stdin, so a payload cannot add
   * arguments. argv[0] must be listed in `commands.allowed`.
   */
  argv: z.array(z.string().min(1)).min(1),
  timeoutMs: z.number().int().positive().default(60 * SECOND_MS) // 1 min
})

export const actionSchema = z.discriminatedUnion('kind', [noopAction, checkpointAction, taskAction, commandAction])

/**
 * Rules are tried by ascending `priority`, then in the order listed; the first that matches
 * decides. A rule either lists actions or skips the event with a reason.
 */
export const ruleSchema = z.strictObject({
  name: z.string().min(1),
  priority: z.number().int().default(100),
  match: matchSchema.prefault({}),
  actions: z.array(actionSchema).default([]),
  skip: z.string().min(1).optional()
}).refine(rule => (rule.skip === undefined) === (rule.actions.length > 0), {
  error: 'a rule has either actions or skip (a reason), not both and not neither'
})

const providerActions = z.array(actionSchema).optional()

/** Actions for an event that no rule matched, per provider; absent means noop. */
const defaultsSchema = z.strictObject({
  github: providerActions,
  stripe: providerActions,
  standard: providerActions,
  generic: providerActions,
  cron: providerActions
})

export const webhooksConfigSchema = z.strictObject({
  bodyLimitBytes: z.number().int().positive().default(1024 * 1024), // 1 MiB
  /**
   * When false, a request to an unconfigured source is accepted unsigned (scheme 'none'), so
   * anyone who can reach the port can inject events: keep it true outside a closed network.
   */
  refuseUnknownSources: z.boolean().default(true),
  /** How long a seen event id is remembered mesh-wide. 7 days. */
  dedupeRetentionMs: z.number().int().positive().default(7 * DAY_MS),
  sources: z.record(name, sourceSchema).default({}),
  rules: z.array(ruleSchema).default([]),
  defaults: defaultsSchema.prefault({}),
  github: z.strictObject({
    /** Comments by these logins are never followed up, in addition to every sender of type Bot. */
    botLogins: z.array(z.string().min(1)).default([])
  }).prefault({}),
  commands: z.strictObject({
    /** Executables a `command` action may run (argv[0], compared as written). */
    allowed: z.array(z.string().min(1)).default([])
  }).prefault({})
}).superRefine((config, ctx) => {
  // A replay is accepted until tolerance after its signed timestamp, and the first copy may have
  // arrived up to tolerance before it: dedupe must remember the id across that whole window.
  const maxTolerance = Math.max(0, ...Object.values(config.sources).map(s => s.toleranceSeconds))
  const minRetention = 2 * maxTolerance * SECOND_MS + DEDUPE_MARGIN_MS
  if (config.dedupeRetentionMs < minRetention) {
    ctx.addIssue({
      code: 'custom',
      path: ['dedupeRetentionMs'],
      message: `must be at least ${minRetention} ms (2 × the largest toleranceSeconds, ${maxTolerance} s, plus ${DEDUPE_MARGIN_MS} ms for clock skew), or a replay could pass as new`
    })
  }

  const seen = new Set<string>()
  for (const [index, rule] of config.rules.entries()) {
    if (seen.has(rule.name)) ctx.addIssue({ code: 'custom', path: ['rules', index, 'name'], message: `rule name '${rule.name}' is used twice` })
    seen.add(rule.name)
  }

  const allowed = new Set(config.commands.allowed)
  const checkCommands = (actions: Action[], at: Array<string | number>): void => {
    for (const [index, action] of actions.entries()) {
      if (action.kind === 'command' && !allowed.has(action.argv[0] ?? '')) {
        ctx.addIssue({ code: 'custom', path: [...at, index, 'argv', 0], message: `'${action.argv[0] ?? ''}' is not in webhooks.commands.allowed; add it there to let rules run it` })
      }
    }
  }
  for (const [index, rule] of config.rules.entries()) checkCommands(rule.actions, ['rules', index, 'actions'])
  for (const [provider, actions] of Object.entries(config.defaults)) checkCommands(actions ?? [], ['defaults', provider])
})

export const cronJobSchema = z.strictObject({
  name,
  /** 5 fields (minute precision) or 6–7 with seconds and years, as croner reads them. */
  schedule: z.string().min(1),
  /** IANA zone the schedule is read in. UTC when absent, so every node computes the same times whatever its own zone. */
  timezone: z.string().optional(),
  /** Replay the fires missed while the whole mesh was down (see dueFires). */
  catchUp: z.boolean().default(false),
  /** Without catchUp, a fire at most this late still happens. 1 min. */
  graceMs: z.number().int().positive().default(60 * SECOND_MS),
  event: z.strictObject({
    type: z.string().min(1),
    payload: z.json().default({})
  })
}).superRefine((job, ctx) => {
  if (job.timezone !== undefined && !isTimeZone(job.timezone)) {
    ctx.addIssue({ code: 'custom', path: ['timezone'], message: `'${job.timezone}' is not an IANA time zone such as Europe/Berlin` })
    return
  }
  let next: Date | null
  try {
    // Paused and without a callback, a Cron only parses the pattern; no timer is started.
    next = new Cron(job.schedule, { paused: true, timezone: job.timezone ?? 'UTC' }).nextRun()
  } catch (err) {
    ctx.addIssue({ code: 'custom', path: ['schedule'], message: `not a cron pattern such as '*/5 * * * *': ${(err as Error).message}` })
    return
  }
  if (next === null) ctx.addIssue({ code: 'custom', path: ['schedule'], message: 'this schedule never fires again' })
})

function isTimeZone (zone: string): boolean {
  try {
    Intl.DateTimeFormat('en', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

export const cronConfigSchema = z.strictObject({
  jobs: z.array(cronJobSchema).default([])
}).superRefine((config, ctx) => {
  const seen = new Set<string>()
  for (const [index, job] of config.jobs.entries()) {
    // The name is part of every fire id: two jobs sharing it would dedupe each other's fires.
    if (seen.has(job.name)) ctx.addIssue({ code: 'custom', path: ['jobs', index, 'name'], message: `job name '${job.name}' is used twice` })
    seen.add(job.name)
  }
})

export type Scheme = typeof SCHEMES[number]
export type Provider = typeof PROVIDERS[number]
export type EventProvider = typeof EVENT_PROVIDERS[number]
export type SourceConfig = z.output<typeof sourceSchema>
export type Condition = z.output<typeof conditionSchema>
export type Action = z.output<typeof actionSchema>
export type Rule = z.output<typeof ruleSchema>
export type RuleInput = z.input<typeof ruleSchema>
export type WebhooksConfig = z.output<typeof webhooksConfigSchema>
export type WebhooksConfigInput = z.input<typeof webhooksConfigSchema>
export type CronJob = z.output<typeof cronJobSchema>
export type CronConfig = z.output<typeof cronConfigSchema>
export type CronConfigInput = z.input<typeof cronConfigSchema>

// What an unconfigured source gets when unknown sources are let in.
const UNCONFIGURED_SOURCE: SourceConfig = Object.freeze({ scheme: 'none', secrets: [], toleranceSeconds: 300, ackReplicas: 0 })

/**
 * The configuration of the source a request names (`/webhook/:source`). Unknown names are refused
 * (404) unless `refuseUnknownSources` is false, in which case they are accepted unsigned.
 */
export function resolveSource (config: WebhooksConfig, sourceName: string): SourceConfig {
  // hasOwn: a name such as `constructor` must not find Object.prototype's.
  const source = Object.hasOwn(config.sources, sourceName) ? config.sources[sourceName] : undefined
  if (source !== undefined) return source
  if (!config.refuseUnknownSources) return UNCONFIGURED_SOURCE
  throw webhookError('WEBHOOK_UNKNOWN_SOURCE', `no webhook source named ${JSON.stringify(sourceName.slice(0, 64))} is configured; add it under webhooks.sources`)
}
