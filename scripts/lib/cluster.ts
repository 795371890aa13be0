import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { HealthReport } from '../../src/health/index.ts'
import type { MemberState } from '../../src/membership/index.ts'
import type { RuntimeInfo } from '../../src/runtime.ts'
import { isRunning, removeDir, trackDir } from './cleanup.ts'
import { exited, lastNonEmptyLine, run, spawnTracked, tellingLine, terminate, type ExitStatus } from './proc.ts'
import { waitFor } from './wait.ts'

/**
 * Starts and drives a mesh of real idlemesh node processes on loopback, for the demo and the
 * benchmarks: temporary data dirs sharing one mesh secret, node 1 first and every other node
 * bootstrapping to it, libp2p and HTTP on 127.0.0.1 port 0. Nodes are addressed by index
 * (0-based); messages name them 1-based, as people count.
 *
 * Everything started here is registered with ./cleanup.ts, so a crash or Ctrl-C still kills the
 * processes and removes the directories.
 */

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..')
/** What bin/idlemesh.mjs and `npm start` run a node with. */
export const NODE_V8_FLAGS = ['--max-semi-space-size=16', '--initial-old-space-size=128', '--no-concurrent-recompilation', '--expose-gc']

export interface ClusterInit {
  /** Number of nodes. */
  size: number
  /** Where the cluster's own temporary directory is created: os.tmpdir(). */
  parentDir?: string
  /** Repository root (holds dist/idlemesh.mjs, built by `npm run build`): this checkout. */
  root?: string
  /** Node binary: the one running this script (Node 24 under npm scripts). */
  nodeBin?: string
  /** Extra environment for the nodes, e.g. IDLEMESH_MEMBERSHIP__DEAD_AFTER_MS. */
  env?: Record<string, string>
  /** How long a node may take from spawn to answering /health: 30 s. */
  readyTimeoutMs?: number
  /** Progress lines; silent by default. */
  log?: (line: string) => void
}

export interface ClusterNode {
  readonly index: number
  readonly dataDir: string
  /** Stable across restarts: the identity lives in the data dir. */
  readonly peerId: string
  /** The running process, if any. */
  child?: ChildProcess
  /** runtime.json of the running process, once it is ready. */
  runtime?: RuntimeInfo
  /** Last lines the process printed, stdout and stderr mixed, for error messages. */
  readonly output: string[]
}

export interface StartResult {
  runtime: RuntimeInfo
  /** performance.now() just before spawn() and once /health answered. */
  spawnedAt: number
  readyAt: number
}

const OUTPUT_LINES = 40
const STOP_GRACE_MS = 10_000
const INIT_TIMEOUT_MS = 30_000

export class Cluster {
  readonly dir: string
  readonly nodes: ClusterNode[] = []
  private readonly root: string
  private readonly nodeBin: string
  private readonly env: NodeJS.ProcessEnv
  private readonly readyTimeoutMs: number
  private readonly log: (line: string) => void
  private destroying?: Promise<void>

  /** Creates the temporary data dirs and node identities (`idlemesh init`); starts nothing. */
  static async create (init: ClusterInit): Promise<Cluster> {
    const cluster = new Cluster(init)
    try {
      await cluster.initNodes(init.size)
    } catch (err) {
      await cluster.destroy()
      throw err
    }
    return cluster
  }

  private constructor (init: ClusterInit) {
    if (!Number.isInteger(init.size) || init.size < 1) throw new RangeError(`cluster size must be a positive integer, got ${init.size}`)
    this.root = init.root ?? REPO_ROOT
    this.nodeBin = init.nodeBin ?? process.execPath
    this.readyTimeoutMs = init.readyTimeoutMs ?? 30_000
    this.log = init.log ?? (() => {})
    this.env = nodeEnv(init.env ?? {})
    this.dir = mkdtempSync(join(init.parentDir ?? tmpdir(), 'idlemesh-cluster-'))
    trackDir(this.dir)
  }

  get size (): number {
    return this.nodes.length
  }

  /** Starts node 1, then all others at once, each bootstrapping to node 1. */
  async start (): Promise<void> {
    await this.startNode(0)
    await Promise.all(this.nodes.slice(1).map(async n => await this.startNode(n.index)))
  }

  /**
   * Spawns node `index` and waits until its runtime.json names this process and its /health
   * answers. It bootstraps to the first other node that is running.
   */
  async startNode (index: number): Promise<StartResult> {
    const node = this.node(index)
    if (node.child !== undefined && isRunning(node.child)) throw new Error(`node ${index + 1} is already running (pid ${node.child.pid ?? '?'})`)
    const bootstrap = this.nodes.find(n => n.index !== index && n.runtime !== undefined)?.runtime?.multiaddrs[0]
    const args = [
      // What ships: compiled JavaScript with the node's V8 settings (see bin/idlemesh.mjs).
      ...NODE_V8_FLAGS, join(this.root, 'dist', 'idlemesh.mjs'), 'start',
      '--data-dir', node.dataDir,
      '--listen', '/ip4/127.0.0.1/tcp/0',
      '--http', '127.0.0.1:0',
      ...(bootstrap === undefined ? [] : ['--bootstrap', bootstrap])
    ]
    delete node.runtime
    node.output.length = 0
    const spawnedAt = performance.now()
    const child = spawnTracked(this.nodeBin, args, { cwd: this.root, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    node.child = child
    collectLines(child, node.output)

    // A node that dies before it is ready should fail the wait at once, with its last words.
    const died = new AbortController()
    void exited(child).then(status => {
      died.abort(new Error(`node ${index + 1} ${describeExit(status)} before it was ready${lastWords(node)}`))
    })
    let runtime: RuntimeInfo
    try {
      runtime = await waitFor(async () => {
        const info = readRuntimeFile(node.dataDir)
        // After a SIGKILL the previous process's runtime.json is still there: wait for ours.
        if (info === undefined || info.pid !== child.pid) return undefined
        await fetchHealth(info.httpUrl, 1000)
        return info
      }, { timeoutMs: this.readyTimeoutMs, intervalMs: 10, what: `node ${index + 1} to answer /health`, signal: died.signal })
    } catch (err) {
      // A node that never became ready is of no use to anyone: do not leave it running.
      await terminate(child, 'SIGKILL')
      delete node.child
      throw err
    }
    const readyAt = performance.now()
    node.runtime = runtime
    this.log(`node ${index + 1} ready in ${Math.round(readyAt - spawnedAt)} ms: ${runtime.httpUrl} (pid ${runtime.pid})`)
    return { runtime, spawnedAt, readyAt }
  }

  /** Sends `signal` to node `index` and waits until the process is gone. */
  async kill (index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitStatus | undefined> {
    const node = this.node(index)
    const child = node.child
    if (child === undefined) return undefined
    delete node.runtime
    const status = await terminate(child, signal, STOP_GRACE_MS)
    delete node.child
    return status
  }

  /** Clean stop: SIGTERM (the node says goodbye and removes runtime.json), SIGKILL after 10 s. */
  async stop (index: number): Promise<ExitStatus | undefined> {
    return await this.kill(index, 'SIGTERM')
  }

  /** Stops node `index` if it runs, then starts it again on the same data dir (same peer ID). */
  async restart (index: number): Promise<StartResult> {
    await this.stop(index)
    return await this.startNode(index)
  }

  isRunning (index: number): boolean {
    const child = this.node(index).child
    return child !== undefined && isRunning(child)
  }

  pid (index: number): number | undefined {
    return this.node(index).child?.pid
  }

  /** HTTP API of node `index` while it runs and is ready. */
  url (index: number): string | undefined {
    return this.node(index).runtime?.httpUrl
  }

  async health (index: number, timeoutMs = 2000): Promise<HealthReport> {
    const url = this.url(index)
    if (url === undefined) throw new Error(`node ${index + 1} is not running`)
    return await fetchHealth(url, timeoutMs)
  }

  /** /health of every node; undefined for a node that is not running or did not answer. */
  async healthAll (timeoutMs = 2000): Promise<Array<HealthReport | undefined>> {
    return await Promise.all(this.nodes.map(async n => {
      if (n.runtime === undefined) return undefined
      return await fetchHealth(n.runtime.httpUrl, timeoutMs).catch(() => undefined)
    }))
  }

  /**
   * Waits until every running node reports every running node (itself included) alive. Returns
   * the reports that satisfied it.
   */
  async waitAllAlive (timeoutMs: number): Promise<HealthReport[]> {
    let last = ''
    try {
      return await waitFor(async () => {
        const running = this.nodes.filter(n => n.runtime !== undefined)
        const reports = await this.healthAll()
        const missing: string[] = []
        for (const observer of running) {
          const report = reports[observer.index]
          if (report === undefined) { missing.push(`node ${observer.index + 1} did not answer`); continue }
          for (const other of running) {
            const state = memberState(report, other.peerId)
            if (state !== 'alive') missing.push(`node ${observer.index + 1} sees node ${other.index + 1} ${state ?? 'not at all'}`)
          }
        }
        last = missing.slice(0, 3).join('; ')
        return missing.length === 0 ? running.map(n => reports[n.index] as HealthReport) : undefined
      }, { timeoutMs, intervalMs: 100, what: 'every node to see every other node alive' })
    } catch (err) {
      throw new Error(`${(err as Error).message}${last === '' ? '' : `: ${last}`}`, { cause: err })
    }
  }

  /** Index of the node with this peer ID, or -1. */
  indexOf (peerId: string): number {
    return this.nodes.findIndex(n => n.peerId === peerId)
  }

  /** Stops every node (SIGTERM, then SIGKILL) and removes the temporary directory. Safe to call twice. */
  async destroy (): Promise<void> {
    this.destroying ??= (async () => {
      await Promise.all(this.nodes.map(async n => await this.stop(n.index).catch(() => undefined)))
      removeDir(this.dir)
    })()
    await this.destroying
  }

  private node (index: number): ClusterNode {
    const node = this.nodes[index]
    if (node === undefined) throw new RangeError(`no node ${index + 1} in a cluster of ${this.nodes.length}`)
    return node
  }

  /** `idlemesh init` for node 1 (a new mesh secret), then the others at once with that secret. */
  private async initNodes (size: number): Promise<void> {
    const first = await this.initNode(0)
    this.nodes.push(first)
    const secret = join(first.dataDir, 'mesh.secret')
    const others = await Promise.all(Array.from({ length: size - 1 }, async (_, i) => await this.initNode(i + 1, secret)))
    this.nodes.push(...others)
    this.log(`initialised ${size} data dir(s) under ${this.dir}`)
  }

  private async initNode (index: number, meshSecret?: string): Promise<ClusterNode> {
    const dataDir = join(this.dir, `node-${index + 1}`)
    const args = [join(this.root, 'dist', 'idlemesh.mjs'), 'init', '--data-dir', dataDir, ...(meshSecret === undefined ? [] : ['--mesh-secret', meshSecret])]
    const { stdout } = await run(this.nodeBin, args, { cwd: this.root, env: this.env, timeoutMs: INIT_TIMEOUT_MS })
    const peerId = /^peer ID: (\S+)$/m.exec(stdout)?.[1]
    if (peerId === undefined) throw new Error(`idlemesh init printed no peer ID for node ${index + 1}: ${lastNonEmptyLine(stdout) ?? '(nothing)'}`)
    return { index, dataDir, peerId, output: [] }
  }
}

/** State of `peerId` as `report` sees it; undefined when the report does not list it. */
export function memberState (report: HealthReport, peerId: string): MemberState | undefined {
  return report.members.find(m => m.peerId === peerId)?.state
}

export async function fetchHealth (baseUrl: string, timeoutMs: number): Promise<HealthReport> {
  const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) })
  if (!response.ok) throw new Error(`GET ${baseUrl}/health: HTTP ${response.status}`)
  return await response.json() as HealthReport
}

/**
 * runtime.json, read here rather than through src/runtime.ts: that module pulls in the
 * identity code (libp2p crypto), which a harness measuring nodes has no reason to load.
 */
function readRuntimeFile (dataDir: string): RuntimeInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimeInfo
  } catch {
    return undefined
  }
}

/**
 * The nodes' environment: this one without any IDLEMESH_* setting of the operator's own node
 * (data dir, config file, HTTP address), quiet logs, then the caller's overrides.
 */
function nodeEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('IDLEMESH_')) env[name] = value
  }
  return { ...env, IDLEMESH_LOG_LEVEL: 'warn', ...extra }
}

function collectLines (child: ChildProcess, into: string[]): void {
  const collector = (): (chunk: string) => void => {
    // A chunk may end mid-line: keep the tail until its newline arrives.
    let partial = ''
    return (chunk: string): void => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        into.push(line)
        if (into.length > OUTPUT_LINES) into.shift()
      }
    }
  }
  child.stdout?.setEncoding('utf8').on('data', collector())
  child.stderr?.setEncoding('utf8').on('data', collector())
}

function describeExit (status: ExitStatus): string {
  return status.signal !== null ? `was killed by ${status.signal}` : `exited with code ${String(status.code)}`
}

/** The most telling line a node printed: its last error log (pino JSON), else see tellingLine. */
function lastWords (node: ClusterNode): string {
  const plain: string[] = []
  for (const line of node.output) {
    try {
      const entry = JSON.parse(line) as { level?: number, msg?: string, err?: unknown }
      if ((entry.level ?? 0) >= 50) plain.push(`idlemesh: ${entry.msg ?? ''}${entry.err === undefined ? '' : ` (${JSON.stringify(entry.err)})`}`)
    } catch {
      plain.push(line)
    }
  }
  const line = tellingLine(plain)
  return line === undefined ? '' : `: ${line}`
}
