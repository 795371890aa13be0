/**
 * What tasks cost, from the records every node holds: each attempt's `total_cost_usd` counts
 * where it ran (a failed or lost attempt that reported a cost still spent it).
 */
import { parseConversationIssue, parseRepoUrl, type TaskRecord } from './model.ts'

export type CostGrouping = 'node' | 'repo' | 'conversation' | 'task'

export interface CostRow {
  key: string
  tasks: number
  attempts: number
  costUsd: number
}

export interface CostReport {
  by: CostGrouping
  /** Only attempts that ended at or after this time (ms), when given. */
  since?: number
  totalUsd: number
  tasks: number
  attempts: number
  rows: CostRow[]
}

/** The cost stream of a task: its stream, else owner/repo from its repository or conversation. */
export function repoKeyOf (record: TaskRecord): string {
  const spec = record.spec
  if (spec.stream !== undefined) return spec.stream
  if (spec.issue !== undefined) return `${spec.issue.owner}/${spec.issue.repo}`
  const fromUrl = spec.repo === undefined ? undefined : parseRepoUrl(spec.repo)
  if (fromUrl !== undefined) return `${fromUrl.owner}/${fromUrl.repo}`
  const fromKey = parseConversationIssue(spec.conversation)
  if (fromKey !== undefined) return `${fromKey.owner}/${fromKey.repo}`
  return '(none)'
}

export function costReport (records: Iterable<TaskRecord>, by: CostGrouping, since?: number): CostReport {
  const rows = new Map<string, { tasks: Set<string>, attempts: number, costUsd: number }>()
  const allTasks = new Set<string>()
  let attempts = 0
  let total = 0
  for (const record of records) {
    for (const attempt of record.attempts) {
      if (attempt.costUsd === undefined) continue
      if (since !== undefined && (attempt.endedAt ?? attempt.startedAt ?? attempt.offeredAt) < since) continue
      const key = by === 'node' ? attempt.node : by === 'repo' ? repoKeyOf(record) : by === 'conversation' ? (record.spec.conversation ?? '(none)') : record.id
      let row = rows.get(key)
      if (row === undefined) {
        row = { tasks: new Set(), attempts: 0, costUsd: 0 }
        rows.set(key, row)
      }
      row.tasks.add(record.id)
      row.attempts++
      row.costUsd += attempt.costUsd
      allTasks.add(record.id)
      attempts++
      total += attempt.costUsd
    }
  }
  return {
    by,
    ...(since === undefined ? {} : { since }),
    totalUsd: roundUsd(total),
    tasks: allTasks.size,
    attempts,
    rows: [...rows.entries()]
      .map(([key, r]) => ({ key, tasks: r.tasks.size, attempts: r.attempts, costUsd: roundUsd(r.costUsd) }))
      .sort((a, b) => b.costUsd - a.costUsd || (a.key < b.key ? -1 : 1))
  }
}

/** Start of the current UTC day, ms: the daily budget resets then. */
export function startOfUtcDay (now: number): number {
  const d = new Date(now)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
}

/** Dollars spent mesh-wide since the start of the UTC day, as far as this node knows. */
export function spentToday (records: Iterable<TaskRecord>, now: number): number {
  return costReport(records, 'node', startOfUtcDay(now)).totalUsd
}

/** Micro-dollar rounding: sums of float costs otherwise print as 0.30000000000000004. */
export function roundUsd (value: number): number {
  return Math.round(value * 1e6) / 1e6
}
