import type { Command } from 'commander'
import { addCheckpointKey, defaultDataDir, loadMeshSecret } from '../../identity/index.ts'
import { renderTable } from '../format.ts'

export function registerSecret (program: Command): void {
  const secret = program.command('secret').description('the mesh secret\'s checkpoint keys (rotation)')

  secret.command('keys')
    .description('list the checkpoint key ids in this node\'s mesh secret (the last one seals)')
    .option('--data-dir <dir>', 'node data directory (default: $IDLEMESH_DATA_DIR or ~/.idlemesh)')
    .action((opts: { dataDir?: string }) => {
      const keys = loadMeshSecret(opts.dataDir ?? defaultDataDir()).checkpointKeys
      const rows = keys.map((k, i) => [k.id, k.createdAt, i === keys.length - 1 ? 'seals and opens' : 'opens'])
      process.stdout.write(renderTable(['KEY ID', 'CREATED', 'USE'], rows) + '\n')
    })

  secret.command('add-key')
    .description('add a new checkpoint key to this node\'s mesh secret; it seals from the next start')
    .option('--data-dir <dir>', 'node data directory (default: $IDLEMESH_DATA_DIR or ~/.idlemesh)')
    .action((opts: { dataDir?: string }) => {
      const result = addCheckpointKey(opts.dataDir ?? defaultDataDir())
      process.stdout.write([
        `added checkpoint key ${result.keyId} to ${result.meshSecretPath} (keys: ${result.keyIds.join(', ')})`,
        '',
        'to rotate the whole mesh:',
        `  1. copy ${result.meshSecretPath} to every node's data dir over a private channel`,
        '  2. restart every node: each seals with the new key from its restart and opens with all keys',
        '  while a node still runs without the new key it ignores checkpoints sealed with it (no',
        '  penalty for the sender) and fetches them by itself once restarted with the new file.',
        '  Old keys stay: checkpoints sealed with them are still read.'
      ].join('\n') + '\n')
    })
}
