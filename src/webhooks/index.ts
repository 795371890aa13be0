/**
 * The pure core of webhooks: config schemas, signature checks, body parsing, event ids, provider
 * detection, rule routing and cron fire times. No I/O: the HTTP route, storage, deduplication and
 * gossip are built around these functions elsewhere.
 */
export {
  SCHEMES,
  PROVIDERS,
  EVENT_PROVIDERS,
  DEDUPE_MARGIN_MS,
  sourceSchema,
  conditionSchema,
  actionSchema,
  ruleSchema,
  webhooksConfigSchema,
  cronJobSchema,
  cronConfigSchema,
  resolveSource
} from './config.ts'
export type {
  Scheme,
  Provider,
  EventProvider,
  SourceConfig,
  Condition,
  Action,
  Rule,
  RuleInput,
  WebhooksConfig,
  WebhooksConfigInput,
  CronJob,
  CronConfig,
  CronConfigInput
} from './config.ts'
export { WEBHOOK_ERRORS, webhookError } from './errors.ts'
export type { WebhookErrorCode } from './errors.ts'
export type { WebhookHeaders } from './headers.ts'
export { verifySignature } from './signatures.ts'
export type { Verification } from './signatures.ts'
export { eventId } from './event-id.ts'
export { parseBody } from './parse.ts'
export { detectProvider, providerOfScheme } from './providers.ts'
export type { NormalizedEvent } from './providers.ts'
export { createRouter } from './routing.ts'
export type { Router, RouteInput, RoutingDecision } from './routing.ts'
export { githubRules } from './github-rules.ts'
export { renderTemplate } from './template.ts'
export { globMatch } from './glob.ts'
export { dueFires, fireId, cronEvent, MAX_FIRES } from './cron.ts'
export { ingestWebhook } from './ingest.ts'
export type { WebhookRequest, Delivery } from './ingest.ts'
