import type { Command } from 'commander'
import type { HealthReport } from '../../health/index.ts'
import { createApiClient } from '../client.ts'
import { renderHealth } from '../health.ts'

export function registerHealth (program: Command): void {
  program.command('health')
    .description('show the mesh as this node sees it: members, liveness, RTT, load')
    .option('--node <url>', 'HTTP API of the node to ask (default: the node of --data-dir)')
    .option('--data-dir <dir>', 'ask the node running on this data dir')
    .option('--token <token>', 'API token (default: $IDLEMESH_API_TOKEN)')
    .option('--json', 'print the report as JSON')
    .option('--strict', 'exit 1 when any member is not alive')
    .action(async (opts: { node?: string, dataDir?: string, token?: string, json?: boolean, strict?: boolean }) => {
      const client = createApiClient(opts)
      const { body } = await client.request<HealthReport>('GET', '/health')
      process.stdout.write(opts.json === true ? JSON.stringify(body, null, 2) + '\n' : renderHealth(body) + '\n')
      if (opts.strict === true && !body.summary.allAlive) {
        const notAlive = body.members.filter(m => m.state !== 'alive').map(m => `${m.peerId} is ${m.state}`)
        process.stderr.write(`idlemesh: not all members are alive: ${notAlive.join('; ')}\n`)
        process.exitCode = 1
      }
    })
}
