import type { Command } from 'commander'
import type { HealthReport } from '../../health/index.ts'
import { createApiClient, type NodeTarget } from '../client.ts'
import { oneLineErrors } from './checkpoint.ts'

const POLL_MS = 500

export function registerDrain (program: Command): void {
  oneLineErrors(program.command('drain'))
    .description('stop this node taking new tasks; the ones running finish (before a restart or maintenance)')
    .option('--off', 'take tasks again')
    .option('--wait', 'return once no task runs here any more')
    .option('--node <url>', 'HTTP API of the node (default: the node of --data-dir)')
    .option('--data-dir <dir>', 'the node running on this data dir')
    .option('--token <token>', 'API token (default: $IDLEMESH_API_TOKEN)')
    .option('--json', 'print the state as JSON')
    .action(async (opts: NodeTarget & { off?: boolean, wait?: boolean, json?: boolean }) => {
      const client = createApiClient(opts)
      const { body } = await client.request<{ draining: boolean, running: number, capacity: number }>('POST', '/drain', {
        body: JSON.stringify({ draining: opts.off !== true }),
        headers: { 'content-type': 'application/json' }
      })
      let running = body.running
      if (opts.wait === true && body.draining) {
        while (running > 0) {
          await new Promise(resolve => setTimeout(resolve, POLL_MS))
          const health = (await client.request<HealthReport & { tasks?: { running: number } }>('GET', '/health')).body
          running = health.tasks?.running ?? 0
        }
      }
      if (opts.json === true) {
        process.stdout.write(JSON.stringify({ ...body, running }) + '\n')
        return
      }
      process.stdout.write(body.draining
        ? `draining: no new tasks; ${running} running${opts.wait === true ? ' (all finished)' : ''}\n`
        : `taking tasks again (capacity ${body.capacity})\n`)
    })
}
