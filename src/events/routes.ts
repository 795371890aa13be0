import type { FastifyInstance } from 'fastify'
import { eventError } from './errors.ts'
import type { EventService } from './service.ts'

interface ListQuery { source?: string, limit?: string, cursor?: string, all?: string }

/**
 * The events API (behind the API token):
 *   GET  /events?source=&limit=&cursor=   newest first: { events: EventSummary[], next: cursor | null }
 *   GET  /events/:id?source=               { event, routing, actions, status, owner }
 *   GET  /messages?all=1&limit=&cursor=    messages to this node (or all): { messages, next }
 *   POST /messages                         { to, type, subject, body?, priority?, context?, deadline? } → 201 message
 */
export function eventRoutes (events: EventService) {
  return (app: FastifyInstance): void => {
    app.get<{ Querystring: ListQuery }>('/events', async (request) => {
      const { source, limit, cursor } = request.query
      return await events.list({
        ...(source === undefined || source === '' ? {} : { source }),
        ...(limit === undefined ? {} : { limit: parseLimit(limit) }),
        ...(cursor === undefined || cursor === '' ? {} : { cursor })
      })
    })

    app.get<{ Params: { id: string }, Querystring: { source?: string } }>('/events/:id', async (request) => {
      const source = request.query.source
      return await events.get(request.params.id, source === undefined || source === '' ? undefined : source)
    })

    app.get<{ Querystring: ListQuery }>('/messages', async (request) => {
      const { limit, cursor, all } = request.query
      return await events.messages({
        all: all === '1' || all === 'true',
        ...(limit === undefined ? {} : { limit: parseLimit(limit) }),
        ...(cursor === undefined || cursor === '' ? {} : { cursor })
      })
    })

    app.post('/messages', async (request, reply) => {
      const message = await events.sendMessage(request.body)
      return await reply.code(201).send(message)
    })
  }
}

function parseLimit (value: string): number {
  const n = /^[0-9]{1,7}$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n)) throw eventError('EVENT_BAD_QUERY', 'limit must be a positive integer')
  return n
}
