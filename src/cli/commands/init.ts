import type { Command } from 'commander'
import { initDataDir, defaultDataDir } from '../../identity/index.ts'

export function registerInit (program: Command): void {
  program.command('init')
    .description('create this node\'s identity and, unless --mesh-secret names one, a new mesh secret')
    .option('--data-dir <dir>', 'node data directory (default: $IDLEMESH_DATA_DIR or ~/.idlemesh)')
    .option('--mesh-secret <file>', 'join an existing mesh: the mesh.secret file copied from one of its nodes')
    .option('--force', 'replace existing keys (this node gets a new peer ID)')
    .action(async (opts: { dataDir?: string, meshSecret?: string, force?: boolean }) => {
      const result = await initDataDir(opts.dataDir ?? defaultDataDir(), {
        ...(opts.meshSecret === undefined ? {} : { meshSecretFile: opts.meshSecret }),
        force: opts.force === true
      })
      const dirFlag = `--data-dir ${result.dataDir}`
      const out = [
        `initialised ${result.dataDir}`,
        `peer ID: ${result.peerId}`,
        result.newMesh ? `new mesh secret: ${result.meshSecretPath} (mode 0600)` : `joined the mesh of ${opts.meshSecret ?? ''}`,
        '',
        `start this node:   idlemesh start ${dirFlag}`,
        '',
        'to add another server to this mesh:',
        `  1. copy the secret over a private channel:  scp ${result.meshSecretPath} OTHER:/tmp/mesh.secret`,
        '  2. on OTHER:  idlemesh init --mesh-secret /tmp/mesh.secret && rm /tmp/mesh.secret',
        `  3. on OTHER:  idlemesh start --bootstrap /ip4/<THIS-SERVER-IP>/tcp/7700/p2p/${result.peerId}`,
        '  4. open TCP port 7700 between the servers (the mesh secret keeps everyone else out)'
      ]
      process.stdout.write(out.join('\n') + '\n')
    })
}
