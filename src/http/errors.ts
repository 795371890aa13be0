import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { IdlemeshError } from '../errors.ts'

export interface ErrorBody {
  /** `details`: machine-readable context some errors carry (e.g. how many replicas confirmed). */
  error: { code: string, message: string, details?: Record<string, unknown> }
}

/** Fastify's own errors, mapped to our stable codes so clients see one vocabulary. */
const FASTIFY_CODES: Record<string, { code: string, status: number, message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', status: 413, message: 'request body is larger than this route accepts' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'BAD_JSON', status: 400, message: 'request body is empty but declared as JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'BAD_REQUEST', status: 400 },
  FST_ERR_VALIDATION: { code: 'BAD_REQUEST', status: 400 }
}

export function toErrorBody (err: unknown): { status: number, body: ErrorBody } {
  if (err instanceof IdlemeshError) {
    const details = (err as IdlemeshError & { details?: Record<string, unknown> }).details
    return { status: err.status, body: { error: { code: err.code, message: err.message, ...(details === undefined ? {} : { details }) } } }
  }
  const fastifyError = err as Partial<FastifyError>
  if (typeof fastifyError.code === 'string') {
    const mapped = FASTIFY_CODES[fastifyError.code]
    if (mapped !== undefined) return { status: mapped.status, body: { error: { code: mapped.code, message: mapped.message ?? fastifyError.message ?? mapped.code } } }
  }
  if (err instanceof SyntaxError || fastifyError.statusCode === 400) {
    return { status: 400, body: { error: { code: 'BAD_JSON', message: `request body is not valid JSON: ${(err as Error).message}` } } }
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error; see the node log' } } }
}

export function sendError (reply: FastifyReply, request: FastifyRequest, err: unknown): FastifyReply {
  const { status, body } = toErrorBody(err)
  if (status >= 500) request.log.error({ reqId: request.id, method: request.method, url: request.url, err }, 'request failed')
  else request.log.info({ reqId: request.id, method: request.method, url: request.url, code: body.error.code, status }, 'request refused')
  return reply.code(status).type('application/json').send(body)
}
