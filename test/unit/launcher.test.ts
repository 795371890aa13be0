import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/nodes.ts'
import { VERSION } from '../../src/version.ts'

const BIN = join(ROOT, 'bin', 'idlemesh.mjs')
/** The machine's own Node, older than 22 here: the launcher must re-run itself on Node 24. */
const SYSTEM_NODE = '/usr/bin/node'

describe('the idlemesh launcher (bin/idlemesh.mjs → dist/idlemesh.mjs)', () => {
  it('runs the bundled CLI on this Node', () => {
    expect(existsSync(join(ROOT, 'dist', 'idlemesh.mjs')), 'dist/ is built by npm ci (prepare) or npm run build').toBe(true)
    const result = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8', timeout: 30_000 })
    expect(result.status).toBe(0)
    expect(result.stdout.trim()).toBe(VERSION)
  })

  it.runIf(existsSync(SYSTEM_NODE) && Number(spawnSync(SYSTEM_NODE, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout) < 22)(
    'on a Node older than 22 it re-runs itself on the bundled Node 24 and passes the exit code through', () => {
      const ok = spawnSync(SYSTEM_NODE, [BIN, '--version'], { encoding: 'utf8', timeout: 30_000 })
      expect(ok.status).toBe(0)
      expect(ok.stdout.trim()).toBe(VERSION)
      const usage = spawnSync(SYSTEM_NODE, [BIN, 'no-such-command'], { encoding: 'utf8', timeout: 30_000 })
      expect(usage.status).toBe(2)
    })
})
