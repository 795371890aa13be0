import { type Command, InvalidArgumentError } from 'commander'
import type { CostReport } from '../../tasks/cost.ts'
import { createApiClient, type NodeTarget } from '../client.ts'
import { renderTable, shortPeerId } from '../format.ts'
import { oneLineErrors } from './checkpoint.ts'

const GROUPINGS = ['node', 'repo', 'conversation', 'task']

export function renderCost (report: CostReport): string {
  const since = report.since === undefined ? '' : ` since ${new Date(report.since).toISOString()}`
  const head = `total $${report.totalUsd.toFixed(4)} over ${report.tasks} task${report.tasks === 1 ? '' : 's'} (${report.attempts} attempt${report.attempts === 1 ? '' : 's'})${since}`
  if (report.rows.length === 0) return head
  const label = report.by.toUpperCase()
  const rows = report.rows.map(r => [report.by === 'node' ? shortPeerId(r.key) : r.key, String(r.tasks), String(r.attempts), `$${r.costUsd.toFixed(4)}`])
  return `${head}\n\n${renderTable([label, 'TASKS', 'ATTEMPTS', 'COST'], rows)}`
}

export function registerCost (program: Command): void {
  oneLineErrors(program.command('cost'))
    .description('what Claude Code tasks cost, mesh-wide, per node, repository, conversation or task')
    .option('--by <grouping>', `group by ${GROUPINGS.join(' | ')} (default node)`, (value: string) => {
      if (!GROUPINGS.includes(value)) throw new InvalidArgumentError(`must be one of ${GROUPINGS.join(', ')}`)
      return value
    })
    .option('--since <time>', 'only attempts that ended since: an ISO date, epoch ms, or 30m / 24h / 7d back')
    .option('--node <url>', 'HTTP API of the node to ask (default: the node of --data-dir)')
    .option('--data-dir <dir>', 'ask the node running on this data dir')
    .option('--token <token>', 'API token (default: $IDLEMESH_API_TOKEN)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: NodeTarget & { by?: string, since?: string, json?: boolean }) => {
      const query = new URLSearchParams({ by: opts.by ?? 'node' })
      if (opts.since !== undefined) query.set('since', opts.since)
      const { body } = await createApiClient(opts).request<CostReport>('GET', `/cost?${query.toString()}`)
      process.stdout.write(opts.json === true ? JSON.stringify(body, null, 2) + '\n' : renderCost(body) + '\n')
    })
}
