/**
 * Conversations: follow-ups with the same key resume one Claude Code session on the node that
 * holds it (`--resume <id>` in the same working directory). After every task the session is
 * summarised into a checkpoint on `conversation/<key>`, so that when the holder is gone the
 * conversation continues on another node from that summary.
 */
import { createHash } from 'node:crypto'
import { SUMMARY_EXCHANGES, SUMMARY_TEXT_CHARS } from './constants.ts'
import { head, type Attempt, type TaskRecord, type TaskSpec } from './model.ts'

export const SUMMARY_KIND = 'idlemesh.conversation'

export interface Exchange {
  taskId: string
  at: number
  node: string
  prompt: string
  result?: string
  status: string
  costUsd?: number
}

/** The payload of a conversation checkpoint (JSON). */
export interface ConversationSummary {
  v: 1
  kind: typeof SUMMARY_KIND
  conversation: string
  sessionId?: string
  node: string
  cwd?: string
  lastTaskId: string
  updatedAt: number
  /** The last SUMMARY_EXCHANGES exchanges, oldest first, each text cut to SUMMARY_TEXT_CHARS. */
  exchanges: Exchange[]
}

export function summarise (previous: ConversationSummary | undefined, record: TaskRecord, attempt: Attempt, self: string, now: number): ConversationSummary {
  const exchange: Exchange = {
    taskId: record.id,
    at: now,
    node: self,
    prompt: head(record.spec.prompt, SUMMARY_TEXT_CHARS) as string,
    status: attempt.status,
    ...(attempt.result === undefined ? {} : { result: head(attempt.result, SUMMARY_TEXT_CHARS) }),
    ...(attempt.costUsd === undefined ? {} : { costUsd: attempt.costUsd })
  }
  const earlier = (previous?.exchanges ?? []).filter(e => e.taskId !== record.id)
  return {
    v: 1,
    kind: SUMMARY_KIND,
    conversation: record.spec.conversation as string,
    ...(attempt.sessionId === undefined ? {} : { sessionId: attempt.sessionId }),
    node: self,
    ...(attempt.cwd === undefined ? {} : { cwd: attempt.cwd }),
    lastTaskId: record.id,
    updatedAt: now,
    exchanges: [...earlier, exchange].slice(-SUMMARY_EXCHANGES)
  }
}

export function parseSummary (bytes: Uint8Array): ConversationSummary | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as ConversationSummary
    return value.kind === SUMMARY_KIND && Array.isArray(value.exchanges) ? value : undefined
  } catch {
    return undefined
  }
}

/** What the CLI is told about the work: the issue when the session does not know it yet, then the prompt. */
export function composePrompt (spec: TaskSpec, plan: { resume?: string, summary?: ConversationSummary }): string {
  const parts: string[] = []
  if (plan.summary !== undefined) {
    const lines = [`[idlemesh] This conversation (${plan.summary.conversation}) continues on another machine; its previous session is not available here. What happened so far:`]
    for (const e of plan.summary.exchanges) {
      lines.push('', `--- request (${new Date(e.at).toISOString()}, ${e.status}):`, e.prompt)
      if (e.result !== undefined) lines.push('--- your answer:', e.result)
    }
    parts.push(lines.join('\n'))
  }
  if (plan.resume === undefined && spec.issue?.title !== undefined) {
    const issue = spec.issue
    const lines = [`GitHub issue ${issue.owner}/${issue.repo}#${issue.number}: ${issue.title ?? ''}`]
    if (issue.body !== undefined && issue.body !== '') lines.push('', issue.body)
    if (issue.comments !== undefined && issue.comments.length > 0) {
      lines.push('', 'Comments:')
      for (const c of issue.comments) lines.push(`- ${c.author}: ${c.body}`)
    }
    parts.push(lines.join('\n'))
  }
  parts.push(spec.prompt)
  return parts.join('\n\n---\n\n')
}

/** The workspace of a conversation that is not about an issue: one directory per key, so --resume finds its session. */
export function conversationWorkspaceId (key: string): string {
  return `conv-${createHash('sha256').update(key).digest('hex').slice(0, 24)}`
}
