import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { loadConfig } from '../../config/index.ts'
import { IdlemeshError } from '../../errors.ts'
import { DATA_FILES, defaultDataDir, initDataDir, isInitialised } from '../../identity/index.ts'
import { createLogger } from '../../logger.ts'
import { createIdleTrimmer, processMemoryControls } from '../../memory/index.ts'

interface StartOptions {
  dataDir?: string
  config?: string
  listen?: string[]
  http?: string
  bootstrap?: string[]
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]
const STOP_DEADLINE_MS = 5000

export function registerStart (program: Command): void {
  program.command('start')
    .description('run this node (with no data dir and no config, a default one is created)')
    .option('--data-dir <dir>', 'node data directory (default: $IDLEMESH_DATA_DIR or ~/.idlemesh)')
    .option('--config <file>', 'config file, YAML or JSON (default: DATA_DIR/config.yaml if present)')
    .option('--listen <multiaddr>', 'libp2p listen address (repeatable)', collect)
    .option('--http <host:port>', 'HTTP API address (default 127.0.0.1:7701)')
    .option('--bootstrap <multiaddr>', 'peer to join through (repeatable)', collect)
    .action(async (opts: StartOptions) => {
      const dataDir = opts.dataDir ?? defaultDataDir()
      const configFile = opts.config ?? process.env.IDLEMESH_CONFIG ?? (existsSync(join(dataDir, DATA_FILES.config)) ? join(dataDir, DATA_FILES.config) : undefined)
      // Validate everything before touching the disk: a refused start writes nothing.
      const config = loadConfig({
        ...(configFile === undefined ? {} : { file: configFile }),
        overrides: {
          ...(opts.listen === undefined ? {} : { listen: opts.listen }),
          ...(opts.bootstrap === undefined ? {} : { bootstrap: opts.bootstrap }),
          ...(opts.http === undefined ? {} : { http: { listen: opts.http } })
        }
      })
      const logger = createLogger({ level: config.log.level })
      if (!isInitialised(dataDir)) {
        // The default dir (~/.idlemesh or $IDLEMESH_DATA_DIR) is set up on first start; a dir or
        // config named on the command line is an operator's choice and must be initialised first.
        if (opts.dataDir !== undefined || opts.config !== undefined) {
          throw new IdlemeshError('NOT_INITIALISED', `${dataDir} holds no node keys; run 'idlemesh init --data-dir ${dataDir}' first`, { status: 400 })
        }
        const result = await initDataDir(dataDir)
        logger.info({ dataDir, peerId: result.peerId }, 'initialised a default data dir with a new mesh secret')
      }
      // Loaded here, not at the top: every other command would otherwise load libp2p too.
      const { startNode } = await import('../../node.ts')
      const node = await startNode({ dataDir, config, logger })
      const memory = processMemoryControls()
      const trimmer = memory === undefined ? undefined : createIdleTrimmer({ ...memory, logger })
      trimmer?.start()
      if (trimmer === undefined) logger.debug('started without --expose-gc: the heap is not trimmed when idle')
      process.stdout.write(`idlemesh node ${node.peerId} running; API ${node.httpUrl}; p2p ${node.multiaddrs().join(' ')}\n`)

      let stopping = false
      const shutdown = (signal: string): void => {
        if (stopping) return
        stopping = true
        logger.info({ signal }, 'stopping on signal')
        const deadline = setTimeout(() => {
          logger.error('clean stop took longer than 5 s; exiting anyway')
          process.exit(1)
        }, STOP_DEADLINE_MS)
        deadline.unref()
        trimmer?.stop()
        node.stop().then(() => { process.exit(0) }, (err: Error) => {
          logger.error({ err: err.message }, 'stop failed')
          process.exit(1)
        })
      }
      process.on('SIGINT', () => { shutdown('SIGINT') })
      process.on('SIGTERM', () => { shutdown('SIGTERM') })
    })
}
