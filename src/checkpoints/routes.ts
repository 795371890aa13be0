/**
 * The checkpoint HTTP API (DESIGN §4). The routes only parse and shape: every decision about
 * storing, sealing, replicating and picking the latest belongs to the CheckpointService.
 *
 * POST /checkpoints?stream=S[&replicas=N]
 *   Body: the payload bytes, any content type (kept as meta.contentType), 1 byte to
 *   `maxPayloadBytes`. Clear metadata from request headers, each value percent-decoded (UTF-8,
 *   as encodeURIComponent writes it):
 *     x-checkpoint-label: L          → meta.label
 *     x-checkpoint-kind: K           → meta.kind
 *     x-checkpoint-meta-<key>: V     → meta.user[<key>]  (header names are case-insensitive,
 *                                       so keys arrive lower-case)
 *   meta.size is the body's length. Stream defaults to `default`. → 201 PostResult (JSON).
 *
 * GET /checkpoints/latest?stream=S[&local=1][&format=json]
 * GET /checkpoints/:id[?format=json]
 *   Default (format=raw): the body is the decrypted payload, content-type meta.contentType (or
 *   application/octet-stream), and the header fields come as response headers:
 *     x-checkpoint-id, x-checkpoint-stream, x-checkpoint-seq, x-checkpoint-parents (ids joined by
 *     ','; empty for the first), x-checkpoint-author, x-checkpoint-time (ms since the epoch),
 *     x-checkpoint-key-id, x-checkpoint-size (encoded envelope bytes), x-checkpoint-meta (the
 *     meta as JSON, non-ASCII escaped as \uXXXX so it is a valid header value)
 *   and, for latest only: x-checkpoint-confirmed (true|false), x-checkpoint-peers-asked,
 *   x-checkpoint-peers-answered, x-checkpoint-source (local|peer).
 *   format=json: { checkpoint: CheckpointView, payload: <base64>, payloadEncoding: 'base64' }
 *   plus, for latest, confirmed, peersAsked, peersAnswered, source.
 *
 * GET /checkpoints?stream=S[&limit=1..1000 (50)][&before=SEQ] → { checkpoints: CheckpointView[] }
 *   newest first, no payloads; `before` keeps only checkpoints whose seq is below it.
 * GET /streams → { streams: StreamSummary[] }
 * GET /checkpoints/verify?stream=S[&payloads=1] → ChainReport with every CID as its string;
 *   payloads=1 also decrypts every payload.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { CID } from 'multiformats/cid'
import { IdlemeshError } from '../errors.ts'
import type { RouteRegistrar } from '../http/app.ts'
import { validateStreamName } from './format.ts'
import type { CheckpointMeta } from './format.ts'
import type { CheckpointService, CheckpointView, LatestResult } from './service-types.ts'
import type { ChainProblem, ChainReport } from './verify-chain.ts'

export const DEFAULT_STREAM = 'default'
/** Largest payload a post accepts: 64 MiB, the app's own body limit. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
export const DEFAULT_HISTORY_LIMIT = 50
export const MAX_HISTORY_LIMIT = 1000

/** Errors raised at this edge, before the service sees the request. Codes are stable. */
export const CHECKPOINT_ROUTE_ERRORS = {
  CHECKPOINT_EMPTY: { status: 400, description: 'the post has no payload bytes' },
  CHECKPOINT_BAD_ID: { status: 400, description: 'the id in the path is not a checkpoint CID' },
  CHECKPOINT_BAD_HEADER: { status: 400, description: 'an x-checkpoint-* request header is malformed' },
  REPLICAS_INVALID: { status: 400, description: 'replicas is not a non-negative integer' },
  LIMIT_INVALID: { status: 400, description: `limit is not an integer from 1 to ${MAX_HISTORY_LIMIT}` },
  BEFORE_INVALID: { status: 400, description: 'before is not a positive integer seq' },
  LOCAL_INVALID: { status: 400, description: 'local is not 1, true, 0 or false' },
  PAYLOADS_INVALID: { status: 400, description: 'payloads is not 1, true, 0 or false' },
  FORMAT_INVALID: { status: 400, description: 'format is not raw or json' }
} as const

export type CheckpointRouteErrorCode = keyof typeof CHECKPOINT_ROUTE_ERRORS

function routeError (code: CheckpointRouteErrorCode, message: string): IdlemeshError {
  return new IdlemeshError(code, message, { status: CHECKPOINT_ROUTE_ERRORS[code].status })
}

export interface CheckpointRoutesInit {
  /** Largest payload a post accepts, bytes: 64 MiB. */
  maxPayloadBytes?: number
}

type Query = Record<string, string | string[] | undefined>

const META_HEADER_PREFIX = 'x-checkpoint-meta-'

export function checkpointRoutes (service: CheckpointService, init: CheckpointRoutesInit = {}): RouteRegistrar {
  const bodyLimit = init.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES
  return (app: FastifyInstance): void => {
    // An encapsulated scope, so the catch-all byte parser below applies to these routes only and
    // every other route keeps fastify's JSON and text parsers.
    void app.register(async (scope) => {
      scope.removeAllContentTypeParsers()
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => { done(null, body) })

      scope.post('/checkpoints', { bodyLimit }, async (request, reply) => {
        const query = request.query as Query
        const stream = streamParam(query)
        const replicas = replicasParam(query)
        const payload = request.body
        // No content-type and no body never reaches the parser: the body is then undefined.
        if (!(payload instanceof Uint8Array) || payload.length === 0) {
          throw routeError('CHECKPOINT_EMPTY', 'the checkpoint payload is empty: send the bytes to store as the request body')
        }
        const meta = metaFromHeaders(request, payload.length)
        const controller = new AbortController()
        // A client that hangs up while the node waits for replicas no longer needs the answer.
        // (The response's 'close', not the request's: that one fires once the body is read.)
        const onClose = (): void => { if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected')) }
        reply.raw.once('close', onClose)
        try {
          const result = await service.post({ stream, payload, meta, ...(replicas === undefined ? {} : { replicas }), signal: controller.signal })
          reply.code(201)
          return result
        } finally {
          reply.raw.off('close', onClose)
        }
      })

      scope.get('/checkpoints/latest', async (request, reply) => {
        const query = request.query as Query
        const stream = streamParam(query)
        const local = localParam(query)
        const format = formatParam(query)
        const result = await service.latest(stream, local ? { local: true } : {})
        const status = latestStatus(result)
        if (format === 'json') return { ...payloadJson(result.checkpoint, result.payload), ...status }
        return raw(reply, result.checkpoint, result.payload, {
          'x-checkpoint-confirmed': String(status.confirmed),
          'x-checkpoint-peers-asked': String(status.peersAsked),
          'x-checkpoint-peers-answered': String(status.peersAnswered),
          'x-checkpoint-source': status.source
        })
      })

      scope.get('/checkpoints/verify', async (request) => {
        const query = request.query as Query
        const stream = streamParam(query)
        return reportJson(await service.verify(stream, { payloads: flagParam(query, 'payloads', 'PAYLOADS_INVALID') }))
      })

      scope.get('/checkpoints/:id', async (request, reply) => {
        const { id } = request.params as { id: string }
        const format = formatParam(request.query as Query)
        if (!isCid(id)) throw routeError('CHECKPOINT_BAD_ID', `${JSON.stringify(id.slice(0, 100))} is not a checkpoint id (a CID string)`)
        const { checkpoint, payload } = await service.get(id)
        if (format === 'json') return payloadJson(checkpoint, payload)
        return raw(reply, checkpoint, payload, {})
      })

      scope.get('/checkpoints', async (request) => {
        const query = request.query as Query
        const stream = streamParam(query)
        const limit = intParam(query, 'limit', 1, MAX_HISTORY_LIMIT, 'LIMIT_INVALID') ?? DEFAULT_HISTORY_LIMIT
        const beforeSeq = intParam(query, 'before', 1, Number.MAX_SAFE_INTEGER, 'BEFORE_INVALID')
        const checkpoints = await service.history(stream, { limit, ...(beforeSeq === undefined ? {} : { beforeSeq }) })
        return { checkpoints }
      })

      scope.get('/streams', async () => ({ streams: await service.streams() }))
    })
  }
}

/** A repeated parameter is refused rather than silently reduced to one of its values. */
function single (query: Query, name: string): string | undefined {
  const value = query[name]
  if (Array.isArray(value)) throw new IdlemeshError('BAD_REQUEST', `query parameter ${name} is given more than once`, { status: 400 })
  return value
}

function streamParam (query: Query): string {
  return validateStreamName(single(query, 'stream') ?? DEFAULT_STREAM)
}

function replicasParam (query: Query): number | undefined {
  const raw = single(query, 'replicas')
  if (raw === undefined) return undefined
  const n = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n)) throw routeError('REPLICAS_INVALID', `replicas must be a non-negative integer (the number of other nodes that must confirm a copy), not ${JSON.stringify(raw.slice(0, 40))}`)
  return n
}

function intParam (query: Query, name: string, min: number, max: number, code: CheckpointRouteErrorCode): number | undefined {
  const raw = single(query, name)
  if (raw === undefined) return undefined
  const n = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw routeError(code, `${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(raw.slice(0, 40))}`)
  return n
}

function localParam (query: Query): boolean {
  return flagParam(query, 'local', 'LOCAL_INVALID')
}

function flagParam (query: Query, name: string, code: CheckpointRouteErrorCode): boolean {
  const raw = single(query, name)
  if (raw === undefined || raw === '0' || raw === 'false') return false
  if (raw === '' || raw === '1' || raw === 'true') return true
  throw routeError(code, `${name} must be 1 or 0, not ${JSON.stringify(raw.slice(0, 40))}`)
}

function formatParam (query: Query): 'raw' | 'json' {
  const raw = single(query, 'format')
  if (raw === undefined || raw === 'raw') return 'raw'
  if (raw === 'json') return 'json'
  throw routeError('FORMAT_INVALID', `format must be raw or json, not ${JSON.stringify(raw.slice(0, 40))}`)
}

function isCid (id: string): boolean {
  try {
    CID.parse(id)
    return true
  } catch {
    return false
  }
}

/** Header values are bytes on the wire; percent-encoding carries any UTF-8 text through them. */
function decodeHeader (name: string, value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined
  const text = Array.isArray(value) ? value.join(', ') : value
  try {
    return decodeURIComponent(text)
  } catch {
    throw routeError('CHECKPOINT_BAD_HEADER', `header ${name} is not valid percent-encoded UTF-8 (write a literal % as %25)`)
  }
}

function metaFromHeaders (request: FastifyRequest, size: number): CheckpointMeta {
  const meta: CheckpointMeta = { size }
  const label = decodeHeader('x-checkpoint-label', request.headers['x-checkpoint-label'])
  if (label !== undefined) meta.label = label
  const kind = decodeHeader('x-checkpoint-kind', request.headers['x-checkpoint-kind'])
  if (kind !== undefined) meta.kind = kind
  const contentType = request.headers['content-type']
  if (typeof contentType === 'string' && contentType.trim() !== '') meta.contentType = contentType.trim()
  const user: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (!name.startsWith(META_HEADER_PREFIX)) continue
    const key = name.slice(META_HEADER_PREFIX.length)
    if (key === '') throw routeError('CHECKPOINT_BAD_HEADER', `header ${META_HEADER_PREFIX} needs a key: ${META_HEADER_PREFIX}<key>: <value>`)
    user[key] = decodeHeader(name, value) as string
  }
  // The service checks the keys, lengths and total size against the format's limits.
  if (Object.keys(user).length > 0) meta.user = user
  return meta
}

function latestStatus (result: LatestResult): Pick<LatestResult, 'confirmed' | 'peersAsked' | 'peersAnswered' | 'source'> {
  return { confirmed: result.confirmed, peersAsked: result.peersAsked, peersAnswered: result.peersAnswered, source: result.source }
}

function toBuffer (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function payloadJson (checkpoint: CheckpointView, payload: Uint8Array): { checkpoint: CheckpointView, payload: string, payloadEncoding: 'base64' } {
  return { checkpoint, payload: toBuffer(payload).toString('base64'), payloadEncoding: 'base64' }
}

/** JSON with every non-ASCII character escaped: still valid JSON, and a valid header value. */
function asciiJson (value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** type/subtype with optional parameters, nothing that could break the header. */
const SAFE_CONTENT_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[\x20\x21\x23-\x5b\x5d-\x7e]*"|[A-Za-z0-9!#$&^_.+-]+))*$/

function checkpointHeaders (view: CheckpointView): Record<string, string> {
  return {
    'x-checkpoint-id': view.id,
    'x-checkpoint-stream': view.stream,
    'x-checkpoint-seq': String(view.seq),
    'x-checkpoint-parents': view.parents.join(','),
    'x-checkpoint-author': view.author,
    'x-checkpoint-time': String(view.time),
    'x-checkpoint-key-id': view.keyId,
    'x-checkpoint-size': String(view.size),
    'x-checkpoint-meta': asciiJson(view.meta)
  }
}

/** Sets the checkpoint's headers on `reply` and returns the payload for the handler to send. */
function raw (reply: FastifyReply, view: CheckpointView, payload: Uint8Array, extra: Record<string, string>): Buffer {
  // meta.contentType may come from any mesh member: only a well-formed one becomes a header.
  const contentType = view.meta.contentType !== undefined && SAFE_CONTENT_TYPE.test(view.meta.contentType) ? view.meta.contentType : 'application/octet-stream'
  reply.headers({ ...checkpointHeaders(view), ...extra, 'x-content-type-options': 'nosniff' }).type(contentType)
  return toBuffer(payload)
}

interface ChainProblemJson {
  id: string
  reason: ChainProblem['reason']
  detail: string
  parent?: string
}

export interface ChainReportJson {
  ok: boolean
  checked: number
  firstBroken?: ChainProblemJson
  problems: ChainProblemJson[]
}

function problemJson (problem: ChainProblem): ChainProblemJson {
  const out: ChainProblemJson = { id: problem.id.toString(), reason: problem.reason, detail: problem.detail }
  if (problem.parent !== undefined) out.parent = problem.parent.toString()
  return out
}

export function reportJson (report: ChainReport): ChainReportJson {
  const out: ChainReportJson = { ok: report.ok, checked: report.checked, problems: report.problems.map(problemJson) }
  if (report.firstBroken !== undefined) out.firstBroken = problemJson(report.firstBroken)
  return out
}
