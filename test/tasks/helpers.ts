import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ConfigInput } from '../../src/config/index.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import type { TaskView } from '../../src/tasks/index.ts'
import { FAKE_CLAUDE } from '../runner/helpers.ts'
import { initMesh, seesAllAlive, spawnNode, startTestNode, type NodeProcess, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import type { RecordEntry } from '../runner/helpers.ts'

export { FAKE_CLAUDE }

/** Task timings short enough for tests; the lease still outlasts the orphan guard's reaction (100 ms + kill grace). */
export const FAST_TASKS = {
  leaseMs: 1500,
  offerTimeoutMs: 2000,
  retryBackoffMs: 100,
  retryBackoffMaxMs: 1000,
  syncIntervalMs: 2000
}

/** The tasks section of a test node: the fake CLI, recording every start and end to `record`. */
export function taskConfig (dirs: TempDirs, name: string, record: string, overrides: Record<string, unknown> = {}): ConfigInput['tasks'] {
  const { runner, workspaces, ...rest } = overrides as { runner?: Record<string, unknown>, workspaces?: Record<string, unknown> }
  return {
    capacity: 2,
    ...FAST_TASKS,
    workspaces: { root: dirs.dir(`${name}-ws`), ...workspaces },
    runner: {
      command: [process.execPath, FAKE_CLAUDE],
      envPassThrough: [],
      env: { FAKE_CLAUDE_RECORD: record, FAKE_CLAUDE_NODE: name },
      killGraceMs: 300,
      exitGraceMs: 1000,
      ...runner
    },
    ...rest
  } as ConfigInput['tasks']
}

export interface TaskMesh {
  nodes: IdlemeshNode[]
  dataDirs: string[]
  record: string
}

/**
 * `count` in-process nodes sharing one mesh secret and one fake-CLI record file. `tasksFor(i)`
 * gives node i's tasks section overrides (capacity, runner modes…).
 */
export async function startTaskMesh (dirs: TempDirs, count: number, tasksFor: (i: number) => Record<string, unknown> = () => ({}), extra: (i: number) => ConfigInput = () => ({})): Promise<TaskMesh> {
  const dataDirs = await initMesh(dirs, count)
  const record = dirs.dir('record.jsonl')
  const nodes: IdlemeshNode[] = []
  try {
    for (let i = 0; i < count; i++) {
      const bootstrap = i === 0 ? {} : { bootstrap: [nodes[0]?.multiaddrs()[0] as string] }
      nodes.push(await startTestNode(dataDirs[i] as string, { ...bootstrap, tasks: taskConfig(dirs, `node${i}`, record, tasksFor(i)), ...extra(i) }))
    }
    const ids = nodes.map(n => n.peerId)
    await waitFor(() => nodes.every(n => seesAllAlive(n, ids)), { timeoutMs: 20_000, what: 'every node to see every other alive' })
    await waitFor(() => nodes.every(n => n.mesh.connectedPeers().length === count - 1), { timeoutMs: 20_000, what: 'a full mesh of direct connections' })
    // Load reports ride on heartbeats: wait until every node has everyone's.
    await waitFor(() => nodes.every(n => n.membership.list().every(m => m.load !== undefined)), { timeoutMs: 10_000, what: 'load reports from every member' })
  } catch (err) {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    throw err
  }
  return { nodes, dataDirs, record }
}

/** What the fake CLI records (test/fixtures/runner/fake-claude.mjs), one JSON line each. */
export type { RecordEntry }

export function readRecord (file: string): RecordEntry[] {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return text.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as RecordEntry)
}

/** Runs of the fake CLI: start and end per pid, which node ran it, with what prompt. */
export interface Run {
  pid: number
  node: string
  prompt: string
  argv: string[]
  cwd: string
  start: number
  end?: number
}

export function runsOf (file: string): Run[] {
  const runs = new Map<number, Run>()
  for (const e of readRecord(file)) {
    if (e.event === 'start') runs.set(e.pid, { pid: e.pid, node: e.env?.FAKE_CLAUDE_NODE ?? '?', prompt: e.prompt ?? '', argv: e.argv ?? [], cwd: e.cwd ?? '', start: e.at })
    if (e.event === 'end') {
      const run = runs.get(e.pid)
      if (run !== undefined) run.end = e.at
    }
  }
  return [...runs.values()]
}

/** Runs whose prompt contains `marker`, in start order. */
export function runsFor (file: string, marker: string): Run[] {
  return runsOf(file).filter(r => r.prompt.includes(marker)).sort((a, b) => a.start - b.start)
}

/** Asserts no two runs of `runs` overlap in time (an unfinished run lasts until now). */
export function overlaps (runs: Run[]): string[] {
  const problems: string[] = []
  const sorted = [...runs].sort((a, b) => a.start - b.start)
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as Run
    const cur = sorted[i] as Run
    if ((prev.end ?? Infinity) > cur.start) problems.push(`run ${prev.pid} on ${prev.node} [${prev.start}, ${prev.end ?? 'still running'}] overlaps run ${cur.pid} on ${cur.node} starting ${cur.start}`)
  }
  return problems
}

export async function waitForStatus (node: IdlemeshNode, id: string, statuses: string[], timeoutMs = 20_000): Promise<TaskView> {
  return await waitFor(() => {
    const task = node.tasks.get(id)
    return task !== undefined && statuses.includes(task.status) ? task : undefined
  }, { timeoutMs, what: `task ${id} to be ${statuses.join(' or ')} on ${node.peerId.slice(-6)}` })
}

export function nodeName (mesh: TaskMesh, peerId: string | undefined): string {
  const i = mesh.nodes.findIndex(n => n.peerId === peerId)
  return i < 0 ? `?${peerId ?? ''}` : `node${i}`
}

export const workspaceOf = (dirs: TempDirs, name: string): string => join(dirs.dir(`${name}-ws`))

// ---- nodes in their own processes, for SIGKILL ----

export interface ProcMesh {
  procs: NodeProcess[]
  dataDirs: string[]
  record: string
  url: (i: number) => string
}

/** Environment that configures a spawned node's tasks section (the config loader reads IDLEMESH_TASKS__…). */
export function taskEnv (dirs: TempDirs, name: string, record: string, overrides: { capacity?: number, env?: Record<string, string>, extra?: Record<string, string> } = {}): Record<string, string> {
  return {
    IDLEMESH_TASKS__CAPACITY: String(overrides.capacity ?? 1),
    IDLEMESH_TASKS__LEASE_MS: String(FAST_TASKS.leaseMs),
    IDLEMESH_TASKS__OFFER_TIMEOUT_MS: String(FAST_TASKS.offerTimeoutMs),
    IDLEMESH_TASKS__RETRY_BACKOFF_MS: String(FAST_TASKS.retryBackoffMs),
    IDLEMESH_TASKS__SYNC_INTERVAL_MS: String(FAST_TASKS.syncIntervalMs),
    IDLEMESH_TASKS__WORKSPACES__ROOT: dirs.dir(`${name}-ws`),
    IDLEMESH_TASKS__RUNNER__COMMAND: JSON.stringify([process.execPath, FAKE_CLAUDE]),
    IDLEMESH_TASKS__RUNNER__ENV_PASS_THROUGH: '[]',
    IDLEMESH_TASKS__RUNNER__KILL_GRACE_MS: '300',
    IDLEMESH_TASKS__RUNNER__ENV: JSON.stringify({ FAKE_CLAUDE_RECORD: record, FAKE_CLAUDE_NODE: name, ...overrides.env }),
    ...overrides.extra
  }
}

export async function spawnTaskMesh (dirs: TempDirs, count: number, envFor: (i: number, record: string) => Record<string, string>): Promise<ProcMesh> {
  const dataDirs = await initMesh(dirs, count)
  const record = dirs.dir('record.jsonl')
  const procs: NodeProcess[] = []
  try {
    procs.push(await spawnNode(dataDirs[0] as string, [], envFor(0, record)))
    const bootstrap = ['--bootstrap', procs[0]?.runtime.multiaddrs[0] as string]
    procs.push(...await Promise.all(dataDirs.slice(1).map(async (dir, i) => await spawnNode(dir, bootstrap, envFor(i + 1, record)))))
    const ids = procs.map(p => p.runtime.peerId)
    await waitFor(async () => {
      for (const p of procs) {
        const report = await p.health()
        if (!ids.every(id => report.members.find(m => m.peerId === id)?.state === 'alive' && report.members.find(m => m.peerId === id)?.load !== undefined)) return false
        if (report.connections.length < count - 1) return false
      }
      return true
    }, { timeoutMs: 20_000, what: 'every node to see every other alive with a load report' })
  } catch (err) {
    await Promise.all(procs.map(async p => { await p.kill('SIGKILL') }))
    throw err
  }
  return { procs, dataDirs, record, url: (i) => (procs[i] as NodeProcess).runtime.httpUrl }
}

export async function api<T = unknown> (base: string, method: string, path: string, body?: unknown): Promise<{ status: number, body: T }> {
  const response = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    signal: AbortSignal.timeout(15_000)
  })
  const text = await response.text()
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T }
}

export async function taskOn (base: string, id: string): Promise<TaskView | undefined> {
  const { status, body } = await api<{ task: TaskView }>(base, 'GET', `/tasks/${id}`)
  return status === 200 ? body.task : undefined
}
