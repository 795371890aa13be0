import type { HealthReport } from '../health/index.ts'
import type { CheckpointHealth } from '../checkpoints/service-types.ts'
import type { EventsHealth, WebhooksHealth } from '../events/index.ts'
import type { TaskHealth } from '../tasks/index.ts'

function counts (record: Record<string, number>): string {
  const entries = Object.entries(record).filter(([, n]) => n > 0)
  return entries.length === 0 ? 'none' : entries.map(([code, n]) => `${code} ${n}`).join(', ')
}
import { formatBytes, formatDuration, renderTable, shortPeerId } from './format.ts'

export function renderHealth (report: HealthReport): string {
  const { node, summary } = report
  const lines = [
    `node ${node.peerId}  v${node.version}  up ${formatDuration(node.uptimeMs)}  ${node.httpUrl ?? ''}`,
    `mesh: ${summary.members} members, ${summary.alive} alive, ${summary.suspect} suspect, ${summary.dead} dead, ${summary.left} left; ${report.connections.length} connections; dht routing table ${report.dht.routingTableSize}`,
    ''
  ]
  const rows = report.members.map(m => [
    `${shortPeerId(m.peerId)}${m.self ? ' (self)' : ''}`,
    m.state,
    m.self ? '-' : m.lastHeardAgoMs === null ? 'never' : `${formatDuration(m.lastHeardAgoMs)} ago`,
    m.rttMs === undefined ? '-' : `${m.rttMs.toFixed(2)}ms`,
    m.load === undefined ? '-' : m.load.load1.toFixed(2),
    m.load === undefined ? '-' : `${m.load.running}/${m.load.capacity}${m.load.draining ? ' draining' : ''}`,
    m.load === undefined ? '-' : formatBytes(m.load.freeMemBytes),
    m.connected || m.self ? 'yes' : 'no',
    m.version,
    m.reason ?? ''
  ])
  lines.push(renderTable(['MEMBER', 'STATE', 'LAST HEARD', 'RTT', 'LOAD1', 'TASKS', 'FREE MEM', 'DIRECT', 'VERSION', 'NOTE'], rows))
  const checkpoints = report.checkpoints as CheckpointHealth | undefined
  if (checkpoints !== undefined) {
    const rejected = Object.entries(checkpoints.rejected).map(([code, n]) => `${code} ${n}`).join(', ')
    lines.push('', `checkpoints: ${checkpoints.stored} stored, sync backlog ${checkpoints.syncBacklog}, rejected: ${rejected === '' ? 'none' : rejected}`)
    if (checkpoints.streams.length > 0) {
      lines.push(renderTable(['STREAM', 'LATEST (THIS NODE)', 'MEMBERS REPORTING', 'AGREE'], checkpoints.streams.map(s => {
        const mine = s.byMember[node.peerId]
        const views = Object.values(s.byMember)
        return [s.stream, mine == null ? '-' : `${mine.seq} ${mine.id.slice(0, 16)}…`, String(views.filter(v => v !== null).length), s.agree ? 'yes' : 'NO']
      })))
    }
  }
  const tasks = report.tasks as TaskHealth | undefined
  if (tasks !== undefined) {
    lines.push('', `tasks: ${tasks.running}/${tasks.capacity} running here${tasks.draining ? ' (draining)' : ''}, ${tasks.queued} queued, coordinating ${tasks.coordinating}, known ${tasks.known} (${counts(tasks.byStatus)}); spent today $${tasks.spentTodayUsd.toFixed(2)}${tasks.dailyBudgetUsd === undefined ? '' : ` of $${tasks.dailyBudgetUsd.toFixed(2)}`}`)
  }
  const events = report.events as EventsHealth | undefined
  const webhooks = report.webhooks as WebhooksHealth | undefined
  if (events !== undefined && webhooks !== undefined) {
    lines.push(`events: ${events.stored} stored, ${events.queues.openEvents} with unfinished actions (${events.queues.runningActions} running, ${events.queues.waitingActions} waiting)${events.ready ? '' : ', not acting yet (syncing)'}`)
    lines.push(`webhooks: ${webhooks.accepted} accepted, ${webhooks.duplicates} duplicates, rejected: ${counts(webhooks.rejected)}`)
  }
  return lines.join('\n')
}
