import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { IdlemeshError } from '../errors.ts'
import { sendError } from '../http/errors.ts'
import { resolveSource, type WebhooksConfig } from './config.ts'
import { ingestWebhook } from './ingest.ts'
import type { NormalizedEvent } from './providers.ts'

/** The part of the event service the webhook routes use. */
export interface WebhookSink {
  ingest: (input: { source: string, id: string, event: NormalizedEvent, payload: unknown, payloadJson: string }, options: { ackReplicas: number }) => Promise<{ status: 'queued' | 'duplicate_ignored', eventId: string }>
  countRejected: (code: string) => void
}

export interface WebhookRoutesInit {
  config: WebhooksConfig
  /** ms since the epoch; injectable for tests. */
  now?: () => number
}

/** What a sender gets back: 202 queued, or 200 for a delivery the mesh already holds. */
export interface WebhookAnswer {
  status: 'queued' | 'duplicate_ignored'
  event_id: string
}

/** The source of `POST /webhook` without a name. */
export const DEFAULT_SOURCE = 'default'

/**
 * `POST /webhook/:source` and `POST /webhook` (source `default`). Not behind the API token (see
 * http/app.ts): each source proves itself by its signature instead.
 *
 * The body is read as raw bytes, whatever the content type, so the signature is checked on the
 * exact bytes received; a body over webhooks.bodyLimitBytes is refused with 413 from its
 * Content-Length, before it is read. The answer (202 or 200) comes after the event is on this
 * node's disk (and on `ackReplicas` peers' disks when the source asks) and before any action
 * runs. Every refusal is a JSON error, stores nothing, and is counted by code.
 */
export function webhookRoutes (sink: WebhookSink, init: WebhookRoutesInit) {
  const config = init.config
  const now = init.now ?? Date.now
  const bodyLimit = config.bodyLimitBytes

  const handler = async (request: FastifyRequest<{ Params: { source?: string } }>, reply: FastifyReply): Promise<FastifyReply> => {
    const source = request.params.source ?? DEFAULT_SOURCE
    const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    const delivery = ingestWebhook(config, { source, headers: request.headers, rawBody, now: now() })
    const { ackReplicas } = resolveSource(config, source)
    const result = await sink.ingest({ source: delivery.source, id: delivery.id, event: delivery.event, payload: delivery.payload, payloadJson: delivery.payloadJson }, { ackReplicas })
    const answer: WebhookAnswer = { status: result.status, event_id: result.eventId }
    return await reply.code(result.status === 'queued' ? 202 : 200).send(answer)
  }

  return (app: FastifyInstance): void => {
    // An encapsulated scope: its body parser and error handler apply to these routes only.
    void app.register(async (scope) => {
      scope.removeAllContentTypeParsers()
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => { done(null, body) })
      scope.setErrorHandler((err, request, reply) => {
        const mapped = mapFastifyError(err, bodyLimit)
        if (mapped instanceof IdlemeshError && mapped.status >= 400 && mapped.status < 500) sink.countRejected(mapped.code)
        return sendError(reply, request, mapped)
      })
      scope.post('/webhook', { bodyLimit }, handler)
      scope.post<{ Params: { source: string } }>('/webhook/:source', { bodyLimit }, handler)
    })
  }
}

/** Fastify's own refusals, in the webhook vocabulary (so they are counted by a stable code). */
function mapFastifyError (err: unknown, bodyLimit: number): unknown {
  if (err instanceof IdlemeshError) return err
  const code = (err as Partial<FastifyError>).code
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new IdlemeshError('WEBHOOK_BODY_TOO_LARGE', `the body is larger than webhooks.bodyLimitBytes (${bodyLimit} bytes)`, { status: 413, cause: err })
  }
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new IdlemeshError('WEBHOOK_BAD_REQUEST', 'the body does not match its Content-Length', { status: 400, cause: err })
  }
  return err
}
