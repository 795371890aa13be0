/**
 * HTTP API of tasks:
 *
 *   POST   /tasks                 submit (JSON TaskSubmission) → 202 { task } (200 when the id exists)
 *   GET    /tasks?status=&conversation=&node=&limit=   → { tasks }
 *   GET    /tasks/:id             → { task }
 *   DELETE /tasks/:id?wait=MS     cancel, killing the run wherever it is → { task, ended }
 *   GET    /tasks/:id/logs?follow=1&attempt=N&after=SEQ   → NDJSON, one TaskLogEntry per line
 *   GET    /cost?by=node|repo|conversation|task&since=T   → CostReport
 *   POST   /drain   { "draining": true|false }   → { draining, running }
 */
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { IdlemeshError } from '../errors.ts'
import type { RouteRegistrar } from '../http/index.ts'
import type { TaskService } from './index.ts'
import { TASK_STATUSES, type TaskStatus } from './model.ts'
import type { CostGrouping } from './cost.ts'

const GROUPINGS: readonly CostGrouping[] = ['node', 'repo', 'conversation', 'task']
/** Bodies of POST /tasks: prompts up to 256 Ki characters, issue bodies and comments. */
const SUBMIT_BODY_LIMIT_BYTES = 4 * 1024 * 1024

function badRequest (message: string): IdlemeshError {
  return new IdlemeshError('BAD_REQUEST', message, { status: 400 })
}

/** A time for --since: epoch ms, an ISO date, or a duration back from now (30m, 24h, 7d). */
export function parseSince (value: string, now = Date.now()): number {
  const trimmed = value.trim()
  if (/^\d{10,}$/.test(trimmed)) return Number(trimmed)
  const ago = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(trimmed)
  if (ago !== null) return now - Number(ago[1]) * { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[ago[2] as 's' | 'm' | 'h' | 'd']
  const parsed = Date.parse(trimmed)
  if (Number.isNaN(parsed)) throw badRequest(`since ${JSON.stringify(value)} is not a time: use epoch ms, an ISO date, or 30m / 24h / 7d`)
  return parsed
}

function intParam (value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min) throw badRequest(`${name} must be an integer >= ${min}`)
  return n
}

export function taskRoutes (tasks: TaskService): RouteRegistrar {
  return (app: FastifyInstance): void => {
    app.post('/tasks', { bodyLimit: SUBMIT_BODY_LIMIT_BYTES }, async (request, reply) => {
      if (typeof request.body !== 'object' || request.body === null) throw badRequest('send the task as a JSON object: { "prompt": "…" }')
      const task = await tasks.submit(request.body as never)
      const duplicate = (task as { duplicate?: boolean }).duplicate === true
      return await reply.code(duplicate ? 200 : 202).send({ task, duplicate })
    })

    app.get('/tasks', async (request) => {
      const q = request.query as Record<string, string | undefined>
      let status: TaskStatus[] | undefined
      if (q.status !== undefined && q.status !== '') {
        status = q.status.split(',').map(s => s.trim()) as TaskStatus[]
        const unknown = status.filter(s => !TASK_STATUSES.includes(s))
        if (unknown.length > 0) throw badRequest(`unknown status ${unknown.join(', ')}; one of ${TASK_STATUSES.join(', ')}`)
      }
      const limit = intParam(q.limit, 'limit', 1)
      return {
        tasks: tasks.list({
          ...(status === undefined ? {} : { status }),
          ...(q.conversation === undefined ? {} : { conversation: q.conversation }),
          ...(q.node === undefined ? {} : { node: q.node }),
          ...(limit === undefined ? {} : { limit })
        })
      }
    })

    app.get('/tasks/:id', async (request) => {
      const { id } = request.params as { id: string }
      const task = tasks.get(id)
      if (task === undefined) throw new IdlemeshError('TASK_NOT_FOUND', `no task ${id} on this node (it may not have reached it yet)`, { status: 404 })
      return { task }
    })

    app.delete('/tasks/:id', async (request) => {
      const { id } = request.params as { id: string }
      const q = request.query as Record<string, string | undefined>
      const waitMs = intParam(q.wait, 'wait', 0)
      return await tasks.cancel(id, q.reason ?? 'cancelled on request', waitMs === undefined ? {} : { waitMs: Math.min(waitMs, 60_000) })
    })

    app.get('/tasks/:id/logs', async (request, reply) => {
      const { id } = request.params as { id: string }
      const q = request.query as Record<string, string | undefined>
      if (tasks.get(id) === undefined) throw new IdlemeshError('TASK_NOT_FOUND', `no task ${id} on this node`, { status: 404 })
      const attempt = intParam(q.attempt, 'attempt', 1)
      const after = intParam(q.after, 'after', -1)
      const follow = q.follow === '1' || q.follow === 'true'
      const controller = new AbortController()
      request.raw.on('close', () => { controller.abort() })
      const entries = tasks.logs(id, {
        follow,
        signal: controller.signal,
        ...(attempt === undefined ? {} : { attempt }),
        ...(after === undefined ? {} : { after })
      })
      const body = Readable.from((async function * () {
        for await (const entry of entries) yield JSON.stringify(entry) + '\n'
      })())
      return await reply.type('application/x-ndjson').send(body)
    })

    app.get('/cost', async (request) => {
      const q = request.query as Record<string, string | undefined>
      const by = (q.by ?? 'node') as CostGrouping
      if (!GROUPINGS.includes(by)) throw badRequest(`by must be one of ${GROUPINGS.join(', ')}`)
      return tasks.cost(by, q.since === undefined || q.since === '' ? undefined : parseSince(q.since))
    })

    app.post('/drain', async (request) => {
      const body = (request.body ?? {}) as { draining?: unknown }
      if (body.draining !== undefined && typeof body.draining !== 'boolean') throw badRequest('draining must be true or false')
      tasks.setDraining(body.draining !== false)
      const load = tasks.load()
      return { draining: load.draining, running: load.running, capacity: load.capacity }
    })
  }
}
