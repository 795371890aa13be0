import { createHash } from 'node:crypto'
import { firstHeader, type WebhookHeaders } from './headers.ts'
import { isRecord } from './paths.ts'

/** Headers that name a delivery's event, in order of precedence. */
const ID_HEADERS = ['x-event-id', 'x-github-delivery', 'webhook-id'] as const

/**
 * The id an event is deduplicated by, mesh-wide. The first of these that is present wins:
 *
 * 1. `x-event-id`: a sender (or a relay in front of us) naming its events explicitly;
 * 2. `x-github-delivery`: GitHub's GUID for the event, kept on redeliveries;
 * 3. `webhook-id`: the Standard Webhooks message id, the same on every retry by the spec;
 * 4. a top-level `id` in the JSON payload, string or number (Stripe's `evt_…`);
 * 5. `sha256:<hex>` of the raw body, so identical bodies count as one event.
 *
 * Ids come from senders and only need to be unique per sender: whoever stores them should key
 * them by source as well.
 */
export function eventId (headers: WebhookHeaders, rawBody: Buffer, payload: unknown): string {
  for (const name of ID_HEADERS) {
    const value = firstHeader(headers, name)
    if (value !== undefined) return value
  }
  const id = isRecord(payload) ? payload.id : undefined
  if (typeof id === 'string' && id.trim() !== '') return id.trim()
  if (typeof id === 'number' && Number.isFinite(id)) return String(id)
  return `sha256:${createHash('sha256').update(rawBody).digest('hex')}`
}
