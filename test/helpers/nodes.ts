import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { initDataDir } from '../../src/identity/index.ts'
import { validateConfig, type ConfigInput } from '../../src/config/index.ts'
import { silentLogger } from '../../src/logger.ts'
import { startNode, type IdlemeshNode } from '../../src/node.ts'
import type { HealthReport } from '../../src/health/index.ts'
import type { RuntimeInfo } from '../../src/runtime.ts'
import { waitFor } from './wait.ts'

export const ROOT = resolve(import.meta.dirname, '..', '..')
export const CLI = join(ROOT, 'src', 'cli', 'main.ts')

/** Membership timings short enough for tests, long enough not to flap on a busy 2-core box. */
export const FAST_MEMBERSHIP = { heartbeatIntervalMs: 200, suspectAfterMs: 1000, deadAfterMs: 2000, rttIntervalMs: 1000 }
export const FAST_RECONNECT = { initialDelayMs: 100, maxDelayMs: 1000, dialTimeoutMs: 2000 }

export interface TempDirs {
  root: string
  dir: (name: string) => string
  cleanup: () => void
}

export function tempDirs (prefix = 'idlemesh-test-'): TempDirs {
  const root = mkdtempSync(join(tmpdir(), prefix))
  return { root, dir: (name) => join(root, name), cleanup: () => { rmSync(root, { recursive: true, force: true }) } }
}

/** Initialises `count` data dirs that share the first one's mesh secret. */
export async function initMesh (dirs: TempDirs, count: number, prefix = 'node'): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    const dir = dirs.dir(`${prefix}${i}`)
    await initDataDir(dir, i === 0 ? {} : { meshSecretFile: join(out[0] as string, 'mesh.secret') })
    out.push(dir)
  }
  return out
}

export function testConfig (overrides: ConfigInput = {}): ReturnType<typeof validateConfig> {
  return validateConfig({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    http: { listen: '127.0.0.1:0' },
    membership: FAST_MEMBERSHIP,
    reconnect: FAST_RECONNECT,
    log: { level: 'silent' },
    ...overrides
  })
}

/** A node inside the test process: cheap, and its modules are reachable for assertions. */
export async function startTestNode (dataDir: string, overrides: ConfigInput = {}): Promise<IdlemeshNode> {
  return await startNode({ dataDir, config: testConfig(overrides), logger: silentLogger() })
}

export async function stopAll (nodes: Array<{ stop: () => Promise<void> } | undefined>): Promise<void> {
  await Promise.all(nodes.map(async n => { await n?.stop() }))
}

/** States of every member as `node` sees them, keyed by peer ID. */
export function memberStates (node: IdlemeshNode): Record<string, string> {
  return Object.fromEntries(node.membership.list().map(m => [m.peerId, m.state]))
}

export function seesAllAlive (node: IdlemeshNode, peerIds: string[]): boolean {
  const states = memberStates(node)
  return peerIds.every(id => states[id] === 'alive') && Object.keys(states).length === peerIds.length
}

/** A node in its own OS process, started through the CLI, for crash and exit-code tests. */
export interface NodeProcess {
  dataDir: string
  child: ChildProcess
  runtime: RuntimeInfo
  output: () => string
  health: () => Promise<HealthReport>
  kill: (signal?: NodeJS.Signals) => Promise<void>
}

export function childEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, IDLEMESH_LOG_LEVEL: 'warn', ...extra }
  for (const key of Object.keys(env)) if (key.startsWith('IDLEMESH_') && !(key in extra) && key !== 'IDLEMESH_LOG_LEVEL') delete env[key]
  env.IDLEMESH_MEMBERSHIP__HEARTBEAT_INTERVAL_MS ??= String(FAST_MEMBERSHIP.heartbeatIntervalMs)
  env.IDLEMESH_MEMBERSHIP__SUSPECT_AFTER_MS ??= String(FAST_MEMBERSHIP.suspectAfterMs)
  env.IDLEMESH_MEMBERSHIP__DEAD_AFTER_MS ??= String(FAST_MEMBERSHIP.deadAfterMs)
  env.IDLEMESH_RECONNECT__MAX_DELAY_MS ??= String(FAST_RECONNECT.maxDelayMs)
  env.IDLEMESH_RECONNECT__INITIAL_DELAY_MS ??= String(FAST_RECONNECT.initialDelayMs)
  return env
}

/** `entry`: the CLI module to run, the TypeScript source unless a test wants the shipped bundle. */
export async function spawnNode (dataDir: string, args: string[] = [], env: Record<string, string> = {}, entry = CLI): Promise<NodeProcess> {
  const runtimeFile = join(dataDir, 'runtime.json')
  rmSync(runtimeFile, { force: true })
  const child = spawn(process.execPath, [entry, 'start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '127.0.0.1:0', ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  let exited = false
  child.once('exit', () => { exited = true })
  const runtime = await waitFor(() => {
    if (exited) throw new Error(`node exited during start: ${output}`)
    if (!existsSync(runtimeFile)) return undefined
    const info = JSON.parse(readFileSync(runtimeFile, 'utf8')) as RuntimeInfo
    return info.pid === child.pid ? info : undefined
  }, { timeoutMs: 20_000, what: `${dataDir} to start` })
  return {
    dataDir,
    child,
    runtime,
    output: () => output,
    health: async () => await (await fetch(`${runtime.httpUrl}/health`, { signal: AbortSignal.timeout(5000) })).json() as HealthReport,
    kill: async (signal = 'SIGTERM') => {
      if (exited) return
      const done = new Promise(resolve => child.once('exit', resolve))
      child.kill(signal)
      await done
    }
  }
}

/** Runs the CLI to completion and returns its exit code and output. */
export async function runCli (args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    // Decoded as a stream, so a character split between two reads stays whole.
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`idlemesh ${args.join(' ')} did not finish in ${timeoutMs} ms`)) }, timeoutMs)
    // 'close', not 'exit': the output may still be in the pipe when the process exits.
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}
