import { timingSafeEqual, createHash } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from '../logger.ts'
import { IdlemeshError } from '../errors.ts'
import { sendError } from './errors.ts'

/** A module's routes, registered on the app by the composition root. */
export type RouteRegistrar = (app: FastifyInstance) => void

export interface HttpAppInit {
  /** When set, every route except webhooks requires `Authorization: Bearer <token>`. */
  token?: string
  /** Largest body any route accepts, bytes; routes may lower it: 64 MiB. */
  bodyLimitBytes?: number
  routes: RouteRegistrar[]
}

export interface HttpAppComponents {
  logger: Logger
}

/** Routes authenticated by their own signatures rather than the API token. */
const UNAUTHENTICATED_PREFIXES = ['/webhook']

/** Builds the API without listening, so tests can `inject()` requests without a socket. */
export function buildHttpApp (components: HttpAppComponents, init: HttpAppInit): FastifyInstance {
  const app = Fastify({
    // pino's Logger and fastify's FastifyBaseLogger differ only in generic parameters.
    loggerInstance: components.logger.child({ module: 'http' }) as FastifyBaseLogger,
    // One line per request is noise on a node that answers health probes all day; refusals and
    // failures are logged by the error handler instead.
    logController: new LogController({ disableRequestLogging: true }),
    // Fastify gives each request a child logger bound to its id; with redaction that is a few
    // microseconds per request on the webhook path, for lines only refusals and failures write
    // (and those name the request themselves: see sendError).
    childLoggerFactory: (logger) => logger,
    bodyLimit: init.bodyLimitBytes ?? 64 * 1024 * 1024,
    // Clients may send any bytes as a checkpoint payload: routes read them as Buffers.
    return503OnClosing: true,
    forceCloseConnections: true
  })

  if (init.token !== undefined) {
    const expected = digest(init.token)
    app.addHook('onRequest', async (request) => {
      if (UNAUTHENTICATED_PREFIXES.some(p => request.url === p || request.url.startsWith(`${p}/`) || request.url.startsWith(`${p}?`))) return
      const header = request.headers.authorization ?? ''
      const match = /^Bearer\s+(.+)$/i.exec(header)
      // Comparing digests keeps the comparison constant-time whatever the token's length.
      if (match === null || !timingSafeEqual(digest(match[1] as string), expected)) {
        throw new IdlemeshError('UNAUTHORIZED', 'missing or wrong API token: send Authorization: Bearer <token>', { status: 401 })
      }
    })
  }

  app.setErrorHandler((err, request, reply) => sendError(reply, request, err))
  app.setNotFoundHandler((request, reply) => sendError(reply, request, new IdlemeshError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`, { status: 404 })))
  for (const register of init.routes) register(app)
  return app
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
