import { IdlemeshError } from '../errors.ts'

/**
 * Every error the events module answers a client with, and its HTTP status. Codes are stable
 * once shipped; the HTTP layer serialises them as `{ error: { code, message } }`.
 */
export const EVENT_ERRORS = {
  /** No event with that id on this node (it may not have replicated here yet). */
  EVENT_NOT_FOUND: 404,
  /** Several sources sent an event with that id: the request must name the source. */
  EVENT_AMBIGUOUS: 409,
  /** A query parameter of GET /events or GET /messages is out of range. */
  EVENT_BAD_QUERY: 400,
  /** The webhook body is larger than webhooks.bodyLimitBytes. */
  WEBHOOK_BODY_TOO_LARGE: 413,
  /**
   * The source wants `ackReplicas: N` and fewer than N peers confirmed a copy in time. The event
   * is stored on this node and keeps replicating; a redelivery is answered as a duplicate.
   */
  WEBHOOK_REPLICAS_TIMEOUT: 503,
  /** A message is malformed (missing type or subject, bad priority, deadline or context). */
  MESSAGE_INVALID: 400,
  /** A message names a recipient that is neither `all` nor a known member. */
  MESSAGE_UNKNOWN_PEER: 400,
  /** The event store is closed (the node is stopping). */
  EVENTS_STOPPED: 503
} as const

export type EventErrorCode = keyof typeof EVENT_ERRORS

export function eventError (code: EventErrorCode, message: string, options: { cause?: unknown, details?: Record<string, unknown> } = {}): IdlemeshError {
  const err = new IdlemeshError(code, message, { status: EVENT_ERRORS[code], cause: options.cause })
  // The HTTP layer copies `details` into the error body (see http/errors.ts).
  if (options.details !== undefined) Object.assign(err, { details: options.details })
  return err
}
