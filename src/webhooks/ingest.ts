import { resolveSource, type WebhooksConfig } from './config.ts'
import { eventId } from './event-id.ts'
import type { WebhookHeaders } from './headers.ts'
import { parseBody } from './parse.ts'
import { detectProvider, providerOfScheme } from './providers.ts'
import type { RouteInput } from './routing.ts'
import { verifySignature, type Verification } from './signatures.ts'

export interface WebhookRequest {
  /** The `:source` of `/webhook/:source`; `default` for `/webhook`. */
  source: string
  headers: WebhookHeaders
  /** The body exactly as received: signatures cover these bytes, not a re-serialisation. */
  rawBody: Buffer
  /** This node's clock, ms since the epoch. */
  now: number
}

export interface Delivery extends RouteInput {
  verification: Verification
  /** `payload` as the sender's JSON text: stored as it came, not serialised again. */
  payloadJson: string
}

/**
 * Everything a webhook request goes through before it may be stored, in the order that keeps it
 * safe: the source must be known, then the signature over the raw bytes must hold, and only then
 * is the body parsed, so an unauthenticated caller gets 401 whatever it sends and no parser ever
 * sees its bytes. Throws the IdlemeshError of the first check that fails (404, 401, 415, 400).
 */
export function ingestWebhook (config: WebhooksConfig, request: WebhookRequest): Delivery {
  const source = resolveSource(config, request.source)
  const verification = verifySignature(source, request.headers, request.rawBody, request.now)
  const { payload, json } = parseBody(request.headers, request.rawBody)
  return {
    source: request.source,
    id: eventId(request.headers, request.rawBody, payload),
    event: detectProvider(request.headers, payload, source.provider ?? providerOfScheme(source.scheme)),
    payload,
    payloadJson: json,
    verification
  }
}
