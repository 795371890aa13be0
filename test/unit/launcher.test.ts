import { randomBytes } from 'node:crypto'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT, childEnv, initMesh, spawnNode } from '../helpers/nodes.ts'
import { useTestFixture } from '../helpers/fixture.ts'
import { waitFor } from '../helpers/wait.ts'
import { VERSION } from '../../src/version.ts'
import { NODE_V8_FLAGS } from '../../scripts/lib/cluster.ts'
import { launcherV8Flags } from '../helpers/v8-flags.ts'

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

  // A node started any of these ways must behave as the benchmarks measured it.
  it('starts a node with the same V8 flags as npm start and the benchmarks', () => {
    const flags = launcherV8Flags()
    const shebang = readFileSync(BIN, 'utf8').split('\n')[0]
    expect(shebang).toBe(`#!/usr/bin/env -S node ${flags.join(' ')}`)
    const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
    expect(start).toContain(`node ${flags.join(' ')} dist/idlemesh.mjs start`)
    expect(NODE_V8_FLAGS).toEqual(flags)
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

describe('the bundle (dist/idlemesh.mjs) as a running node', () => {
  const BUNDLE = join(ROOT, 'dist', 'idlemesh.mjs')
  const fixture = useTestFixture()

  // What npm start, the launcher and the benchmarks run, with every module it keeps outside the
  // bundle in use: the private network's cipher, libsodium, LevelDB, and the hashing worker that
  // a checkpoint of 4 MiB or more goes through on both sides (dist/hash-worker.mjs).
  it('two bundled nodes form a private mesh, and a checkpoint posted on one is the latest on the other', async () => {
    const [dirA, dirB] = await initMesh(fixture.dirs, 2) as [string, string]
    const a = await spawnNode(dirA, [], {}, BUNDLE)
    fixture.procs.push(a)
    const b = await spawnNode(dirB, ['--bootstrap', a.runtime.multiaddrs[0] as string], {}, BUNDLE)
    fixture.procs.push(b)
    // Each must see the other: replicas=1 on A needs B alive in A's view.
    await waitFor(async () => {
      const views = await Promise.all([a.health(), b.health()])
      return views.every(health => health.members.filter(m => m.state === 'alive').length === 2)
    }, { what: 'the two bundled nodes to see each other alive' })

    const payload = 'resume at step 3'
    const posted = await fetch(`${a.runtime.httpUrl}/checkpoints?stream=bundle&replicas=1`, { method: 'POST', body: payload })
    expect(posted.status).toBe(201)
    const latest = await fetch(`${b.runtime.httpUrl}/checkpoints/latest?stream=bundle&local=1`)
    expect(latest.status).toBe(200)
    expect(await latest.text()).toBe(payload)

    // The worker ships beside the bundle (without it, hashing falls back to the main thread).
    expect(existsSync(join(ROOT, 'dist', 'hash-worker.mjs'))).toBe(true)
    const large = randomBytes(5 * 1024 * 1024)
    const postedLarge = await fetch(`${a.runtime.httpUrl}/checkpoints?stream=bundle-large&replicas=1`, { method: 'POST', body: large })
    expect(postedLarge.status).toBe(201)
    const latestLarge = await fetch(`${b.runtime.httpUrl}/checkpoints/latest?stream=bundle-large&local=1`)
    expect(latestLarge.status).toBe(200)
    expect(Buffer.from(await latestLarge.arrayBuffer()).equals(large)).toBe(true)
  })
})

describe('a node started by the launcher', () => {
  const fixture = useTestFixture()

  // The launcher's V8 flags (a 16 MB young generation, --expose-gc) and `start` wiring the
  // trimmer: start-up grows the young generation, and the node gives it back once idle.
  it('trims its heap once it is idle after start-up', async () => {
    const [dir] = await initMesh(fixture.dirs, 1) as [string]
    // Run as an operator runs it: the launcher re-runs itself with the flags, so the node is its
    // child; SIGTERM (forwarded) stops both, where SIGKILL would leave the node running.
    const launcher = spawn(process.execPath, [BIN, 'start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '127.0.0.1:0'], { env: childEnv({ IDLEMESH_LOG_LEVEL: 'debug' }), stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise(resolve => launcher.once('exit', resolve))
    let output = ''
    launcher.stdout.setEncoding('utf8').on('data', (d: string) => { output += d })
    try {
      const line = await waitFor(() => output.split('\n').find(l => l.includes('idle: heap trimmed')), { timeoutMs: 20_000, what: 'the node to trim its heap' })
      const trimmed = JSON.parse(line) as { youngBytes: [number, number] }
      expect(trimmed.youngBytes[0]).toBeGreaterThan(4 * 1024 * 1024)
      expect(trimmed.youngBytes[1]).toBeLessThanOrEqual(2 * 1024 * 1024)
    } finally {
      launcher.kill('SIGTERM')
      await exited
    }
  })
})
