import { z } from 'zod'
import { eventError } from './errors.ts'

/** The source messages are stored under, next to webhook sources and `cron`. */
export const MESSAGE_SOURCE = 'message'
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const
export type Priority = typeof PRIORITIES[number]

/**
 * A typed, addressed note between nodes (and the people or agents behind them): who it is for
 * (`all` or a peer ID), what kind it is (`type`, e.g. `handoff`, `question`, `lease.request`), a
 * one-line subject, an optional body, free-form JSON context and an optional deadline.
 */
export const messageInputSchema = z.strictObject({
  to: z.string().min(1).max(128),
  type: z.string().regex(/^[A-Za-z0-9._:/-]{1,64}$/, '1 to 64 letters, digits or . _ : / -'),
  subject: z.string().trim().min(1, 'a subject is required').max(200),
  body: z.string().max(64 * 1024).optional(), // 64 KiB
  priority: z.enum(PRIORITIES).default('normal'),
  context: z.record(z.string(), z.json()).optional(),
  deadline: z.iso.datetime({ offset: true }).optional()
})

export type MessageInput = z.input<typeof messageInputSchema>

export interface Message {
  id: string
  from: string
  to: string
  type: string
  subject: string
  body?: string
  priority: Priority
  context?: Record<string, unknown>
  deadline?: string
  sentAt: string
}

/** The message of a client's JSON, or MESSAGE_INVALID naming the field. */
export function parseMessageInput (input: unknown): z.output<typeof messageInputSchema> {
  const parsed = messageInputSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = issue?.path.join('.') ?? ''
    throw eventError('MESSAGE_INVALID', `invalid message: ${field === '' ? '' : `${field}: `}${issue?.message ?? 'malformed'}`)
  }
  return parsed.data
}

/** The message a stored event carries, or undefined when the payload is not one. */
export function messageOf (id: string, payload: unknown): Message | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined
  const p = payload as Record<string, unknown>
  if (typeof p.from !== 'string' || typeof p.to !== 'string' || typeof p.type !== 'string' || typeof p.subject !== 'string') return undefined
  return {
    id,
    from: p.from,
    to: p.to,
    type: p.type,
    subject: p.subject,
    ...(typeof p.body === 'string' ? { body: p.body } : {}),
    priority: PRIORITIES.includes(p.priority as Priority) ? p.priority as Priority : 'normal',
    ...(typeof p.context === 'object' && p.context !== null ? { context: p.context as Record<string, unknown> } : {}),
    ...(typeof p.deadline === 'string' ? { deadline: p.deadline } : {}),
    sentAt: typeof p.sentAt === 'string' ? p.sentAt : ''
  }
}
