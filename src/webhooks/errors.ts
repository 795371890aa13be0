import { IdlemeshError } from '../errors.ts'

/**
 * Every error the webhooks core raises, with the HTTP status the route answers with. Codes are
 * stable once shipped; the route serialises them as `{ error: { code, message } }`.
 */
export const WEBHOOK_ERRORS = {
  /** The source is configured with a signature scheme and the request carries no signature. */
  WEBHOOK_SIGNATURE_MISSING: 401,
  /** A signature is present but matches none of the source's secrets, or is malformed. */
  WEBHOOK_SIGNATURE_INVALID: 401,
  /** The signature is valid but its signed timestamp is further from now than the tolerance. */
  WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE: 401,
  /** The body is not valid UTF-8 JSON (or the form's `payload` field is not). */
  WEBHOOK_BAD_JSON: 400,
  /** A form-encoded body has no `payload` field. */
  WEBHOOK_FORM_PAYLOAD_MISSING: 400,
  /** The content type is neither JSON nor GitHub's form encoding. */
  WEBHOOK_UNSUPPORTED_MEDIA_TYPE: 415,
  /** No source of that name is configured and unknown sources are refused. */
  WEBHOOK_UNKNOWN_SOURCE: 404
} as const

export type WebhookErrorCode = keyof typeof WEBHOOK_ERRORS

export function webhookError (code: WebhookErrorCode, message: string, cause?: unknown): IdlemeshError {
  return new IdlemeshError(code, message, { status: WEBHOOK_ERRORS[code], cause })
}
