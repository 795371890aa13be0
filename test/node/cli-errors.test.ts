import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CLI, childEnv, initMesh, runCli, tempDirs, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'

/** Every file under dir with its size: "nothing written" means this does not change. */
function snapshot (dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map(e => join(e.parentPath, e.name)).sort()
}

function expectOneLineError (stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n')
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^idlemesh: /)
  expect(lines[0]).toMatch(pattern)
}

describe('idlemesh start refuses bad input with one clear line, a non-zero exit and nothing written', () => {
  let dirs: TempDirs
  let dataDir: string

  beforeEach(async () => {
    dirs = tempDirs()
    ;[dataDir] = await initMesh(dirs, 1) as [string]
  })
  afterEach(() => { dirs.cleanup() })

  it('an invalid config value names the field', async () => {
    const configFile = dirs.dir('bad.yaml')
    writeFileSync(configFile, 'tasks:\n  capacity: "lots"\n')
    const before = snapshot(dataDir)
    const result = await runCli(['start', '--data-dir', dataDir, '--config', configFile, '--http', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0'])
    expect(result.code).not.toBe(0)
    expectOneLineError(result.stderr, /tasks\.capacity/)
    expect(snapshot(dataDir)).toEqual(before)
  })

  it('an unknown config field is named', async () => {
    const configFile = dirs.dir('typo.yaml')
    writeFileSync(configFile, 'bootstrapp: []\n')
    const result = await runCli(['start', '--data-dir', dataDir, '--config', configFile])
    expect(result.code).not.toBe(0)
    expectOneLineError(result.stderr, /bootstrapp/)
  })

  it('an invalid value from the environment is refused', async () => {
    const result = await runCli(['start', '--data-dir', dataDir], { IDLEMESH_MEMBERSHIP__DEAD_AFTER_MS: '-5' })
    expect(result.code).not.toBe(0)
    expectOneLineError(result.stderr, /membership\.deadAfterMs/)
  })

  it('an unreadable key file', async () => {
    // Root reads files whatever their mode, so make the key unreadable by making it a directory.
    const keyFile = join(dataDir, 'node.key')
    const { rmSync } = await import('node:fs')
    rmSync(keyFile)
    mkdirSync(keyFile)
    chmodSync(keyFile, 0o000)
    const before = snapshot(dataDir)
    const result = await runCli(['start', '--data-dir', dataDir, '--http', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0'])
    expect(result.code).not.toBe(0)
    expectOneLineError(result.stderr, /node key .*node\.key/)
    expect(snapshot(dataDir)).toEqual(before)
  })

  it('a corrupt key file', async () => {
    writeFileSync(join(dataDir, 'node.key'), 'not a key')
    const result = await runCli(['start', '--data-dir', dataDir, '--http', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0'])
    expect(result.code).not.toBe(0)
    expectOneLineError(result.stderr, /not a libp2p private key/)
  })

  it('a non-loopback HTTP bind without an API token', async () => {
    const before = snapshot(dataDir)
    const result = await runCli(['start', '--data-dir', dataDir, '--http', '0.0.0.0:0', '--listen', '/ip4/127.0.0.1/tcp/0'])
    expect(result.code).not.toBe(0)
    expectOneLineError(result.stderr, /not loopback.*token/)
    expect(snapshot(dataDir)).toEqual(before)
  })

  it('an uninitialised explicit data dir is not silently created', async () => {
    const empty = dirs.dir('empty')
    const result = await runCli(['start', '--data-dir', empty])
    expect(result.code).not.toBe(0)
    expectOneLineError(result.stderr, /idlemesh init/)
    expect(() => readdirSync(empty)).toThrow()
  })

  it('init refuses to overwrite keys without --force, and --force replaces them', async () => {
    const before = snapshot(dataDir)
    const refused = await runCli(['init', '--data-dir', dataDir])
    expect(refused.code).not.toBe(0)
    expectOneLineError(refused.stderr, /--force/)
    expect(snapshot(dataDir)).toEqual(before)
    const forced = await runCli(['init', '--data-dir', dataDir, '--force'])
    expect(forced.code).toBe(0)
    expect(forced.stdout).toMatch(/peer ID: 12D3KooW/)
  })

  it('init --mesh-secret with a file that is not a mesh secret', async () => {
    const bogus = dirs.dir('bogus.secret')
    writeFileSync(bogus, '{"hello": 1}')
    const target = dirs.dir('joiner')
    const result = await runCli(['init', '--data-dir', target, '--mesh-secret', bogus])
    expect(result.code).not.toBe(0)
    expectOneLineError(result.stderr, /not a valid idlemesh mesh secret/)
    expect(() => readdirSync(target)).toThrow()
  })

  it('health with no running node', async () => {
    const result = await runCli(['health', '--data-dir', dataDir])
    expect(result.code).not.toBe(0)
    expectOneLineError(result.stderr, /no node is running/)
  })

  it('an unknown command or option is a usage error', async () => {
    const result = await runCli(['strat'])
    expect(result.code).toBe(2)
  })
})

describe('idlemesh start with no data dir and no config', () => {
  it('sets up the default data dir ($IDLEMESH_DATA_DIR) with the embedded config and runs', async () => {
    const dirs = tempDirs()
    const dataDir = dirs.dir('home-default')
    const { spawn } = await import('node:child_process')
    const { existsSync, readFileSync } = await import('node:fs')
    const child = spawn(process.execPath, [CLI, 'start', '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '127.0.0.1:0'], { env: childEnv({ IDLEMESH_DATA_DIR: dataDir }), stdio: 'ignore' })
    try {
      await waitFor(() => {
        if (child.exitCode !== null) throw new Error(`start exited with ${child.exitCode}`)
        return existsSync(join(dataDir, 'runtime.json'))
      }, { timeoutMs: 20_000, what: 'the default node to start' })
      const runtime = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as { httpUrl: string, pid: number }
      expect(runtime.pid).toBe(child.pid)
      expect(existsSync(join(dataDir, 'node.key'))).toBe(true)
      expect(existsSync(join(dataDir, 'mesh.secret'))).toBe(true)
      const health = await (await fetch(`${runtime.httpUrl}/health`)).json() as { summary: { alive: number } }
      expect(health.summary.alive).toBe(1)
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise(resolve => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      dirs.cleanup()
    }
  })
})
