import type { Command } from 'commander'
import type { StreamSummary } from '../../checkpoints/service-types.ts'
import { createApiClient } from '../client.ts'
import { renderTable } from '../format.ts'
import { oneLineErrors } from './checkpoint.ts'

export function registerStreams (program: Command): void {
  oneLineErrors(program.command('streams'))
    .description('list the checkpoint streams this node holds, with their latest checkpoint')
    .option('--node <url>', 'HTTP API of the node to ask (default: the node of --data-dir)')
    .option('--data-dir <dir>', 'ask the node running on this data dir')
    .option('--token <token>', 'API token (default: $IDLEMESH_API_TOKEN)')
    .option('--json', 'print the list as JSON')
    .action(async (opts: { node?: string, dataDir?: string, token?: string, json?: boolean }) => {
      const client = createApiClient(opts)
      const { body } = await client.request<{ streams: StreamSummary[] }>('GET', '/streams')
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(body, null, 2) + '\n')
        return
      }
      if (body.streams.length === 0) {
        process.stdout.write('no streams yet: post one with \'idlemesh checkpoint post\'\n')
        return
      }
      process.stdout.write(renderStreams(body.streams) + '\n')
    })
}

export function renderStreams (streams: StreamSummary[]): string {
  const rows = [...streams]
    .sort((a, b) => a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0)
    // A stream with more than one head has forked: the next post on it merges the heads.
    .map(s => [s.stream, String(s.count), s.heads > 1 ? `${s.heads} (forked)` : String(s.heads), String(s.latest.seq), s.latest.id])
  return renderTable(['STREAM', 'CHECKPOINTS', 'HEADS', 'LATEST SEQ', 'LATEST ID'], rows)
}
