import { webhookError } from './errors.ts'
import { firstHeader, type WebhookHeaders } from './headers.ts'

// fatal: invalid UTF-8 is an error rather than silently replaced; a leading BOM is dropped.
const utf8 = new TextDecoder('utf-8', { fatal: true })

export interface ParsedBody {
  payload: unknown
  /** The payload's JSON text as the sender wrote it (decoded; a byte order mark dropped). */
  json: string
}

/**
 * The payload of a webhook body, by its content type:
 * - `application/json` and any `application/…+json`: the body is JSON (UTF-8);
 * - `application/x-www-form-urlencoded` (GitHub's "form" content type): the JSON is in the
 *   `payload` field.
 * Anything else is refused with 415 (WEBHOOK_UNSUPPORTED_MEDIA_TYPE); a body that is not valid
 * JSON with 400 (WEBHOOK_BAD_JSON), a form without `payload` with 400 (WEBHOOK_FORM_PAYLOAD_MISSING).
 */
export function parseBody (headers: WebhookHeaders, rawBody: Buffer): ParsedBody {
  const mediaType = (firstHeader(headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  if (mediaType === 'application/json' || /^application\/[^/]+\+json$/.test(mediaType)) {
    const json = decode(rawBody, 'the body')
    return { payload: parseJson(json, 'the body'), json }
  }
  if (mediaType === 'application/x-www-form-urlencoded') {
    const payload = new URLSearchParams(decode(rawBody, 'the form body')).get('payload')
    if (payload === null) {
      throw webhookError('WEBHOOK_FORM_PAYLOAD_MISSING', 'a form-encoded webhook must carry its JSON in a payload field')
    }
    return { payload: parseJson(payload, 'the form field payload'), json: payload }
  }
  const shown = mediaType === '' ? 'no content type' : `content type ${JSON.stringify(mediaType.slice(0, 100))}`
  throw webhookError('WEBHOOK_UNSUPPORTED_MEDIA_TYPE', `${shown} is not supported; send application/json (or application/x-www-form-urlencoded with a payload field)`)
}

function decode (rawBody: Buffer, what: string): string {
  try {
    return utf8.decode(rawBody)
  } catch (err) {
    throw webhookError('WEBHOOK_BAD_JSON', `${what} is not valid UTF-8`, err)
  }
}

function parseJson (text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    // V8's message quotes the body; it stays in the cause, out of the answer to the client.
    throw webhookError('WEBHOOK_BAD_JSON', `${what} is not valid JSON`, err)
  }
}
