/**
 * How fast a node starts, how much memory it holds idle, and how fast a mesh notices a node
 * that crashed, idle and with one core kept busy. Every figure comes from real node processes on
 * loopback, with the default membership timings (what we ship), and is compared with a baseline
 * measured in the same run.
 */
import type { ChildProcess } from 'node:child_process'
import type { HealthReport } from '../../../src/health/index.ts'
import type { MemberState } from '../../../src/membership/index.ts'
import { Cluster, fetchHealth, memberState } from '../../lib/cluster.ts'
import { isRunning } from '../../lib/cleanup.ts'
import { exited, readRssBytes, spawnTracked, terminate } from '../../lib/proc.ts'
import { sleep, waitFor } from '../../lib/wait.ts'
import type { BenchContext, BenchRow, BenchSuite } from '../types.ts'

const SUITE = 'node-lifecycle'

interface Plan {
  /** Spawn → /health runs of one node (and of the empty-process baseline). */
  startRuns: number
  /** SIGKILL rounds per failure-detection phase (idle, then one core busy). */
  killRounds: number
  /** Nodes in the failure-detection mesh. */
  meshSize: number
}

const FULL: Plan = { startRuns: 7, killRounds: 8, meshSize: 5 }
const QUICK: Plan = { startRuns: 3, killRounds: 2, meshSize: 5 }

/** RSS is read this long after spawn: the issue's definition of "idle". */
const IDLE_AFTER_MS = 10_000
/** Each node's /health is asked this often while a failure is being detected. */
const POLL_INTERVAL_MS = 20
/** A kill not seen by every node within this is reported as a miss (the silence path takes 6 s). */
const DETECT_TIMEOUT_MS = 20_000
const MESH_TIMEOUT_MS = 30_000
/** Observed after the last round, so a false death that follows a restart is still counted. */
const TAIL_OBSERVE_MS = 2000
const MB = 1_000_000

export const suite: BenchSuite = {
  name: SUITE,
  async run (ctx) {
    const plan = ctx.quick ? QUICK : FULL
    const rows: BenchRow[] = []
    rows.push(...await startupTime(ctx, plan))

    // Memory does not care what else the machine does, so the mesh's data dirs are created
    // while the idle node sits out its 10 s.
    const [rssRows, mesh] = await Promise.all([
      idleRss(ctx),
      Cluster.create({ size: plan.meshSize, parentDir: ctx.tmpDir, nodeBin: ctx.nodeBin, root: ctx.root, log: ctx.log })
    ])
    rows.push(...rssRows)
    try {
      rows.push(...await failureDetection(ctx, plan, mesh))
    } finally {
      await mesh.destroy()
    }
    return rows
  }
}

// ---- start → listening ----

async function startupTime (ctx: BenchContext, plan: Plan): Promise<BenchRow[]> {
  const empty: number[] = []
  for (let i = 0; i < plan.startRuns; i++) {
    const started = performance.now()
    const child = spawnTracked(ctx.nodeBin, ['-e', ''], { stdio: 'ignore' })
    await exited(child)
    empty.push(performance.now() - started)
  }

  const cluster = await Cluster.create({ size: 1, parentDir: ctx.tmpDir, nodeBin: ctx.nodeBin, root: ctx.root })
  const times: number[] = []
  try {
    for (let i = 0; i < plan.startRuns; i++) {
      const { spawnedAt, readyAt } = await cluster.startNode(0)
      times.push(readyAt - spawnedAt)
      const status = await cluster.stop(0)
      if (status?.code !== 0) throw new Error(`the node did not stop cleanly after start run ${i + 1}: code ${String(status?.code)}, signal ${String(status?.signal)}`)
    }
  } finally {
    await cluster.destroy()
  }
  ctx.log(`start → /health: ${times.map(t => Math.round(t)).join(', ')} ms; empty node: ${empty.map(t => Math.round(t)).join(', ')} ms`)
  const value = round(median(times))
  const baseline = round(median(empty))
  return [{
    suite: SUITE,
    name: `start → listening (spawn → runtime.json + /health), median of ${plan.startRuns}`,
    value,
    unit: 'ms',
    baseline: { name: "node -e ''", value: baseline, unit: 'ms' },
    ratio: round(value / baseline, 2),
    target: '<= 1000 ms',
    pass: value <= 1000,
    note: `runs ${times.map(t => Math.round(t)).join(', ')} ms; one node, no bootstrap, data dir reused (stopped with SIGTERM between runs)`
  }]
}

// ---- idle memory ----

async function idleRss (ctx: BenchContext): Promise<BenchRow[]> {
  const cluster = await Cluster.create({ size: 1, parentDir: ctx.tmpDir, nodeBin: ctx.nodeBin, root: ctx.root })
  let empty: ChildProcess | undefined
  try {
    // The baseline idles for the same 10 s: an empty Node process that stays up.
    const emptyStarted = performance.now()
    empty = spawnTracked(ctx.nodeBin, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' })
    const { spawnedAt } = await cluster.startNode(0)
    const nodePid = cluster.pid(0) as number
    await sleep(Math.max(0, spawnedAt + IDLE_AFTER_MS - performance.now()))
    const nodeRss = readRssBytes(nodePid)
    await sleep(Math.max(0, emptyStarted + IDLE_AFTER_MS - performance.now()))
    const emptyRss = readRssBytes(empty.pid as number)
    ctx.log(`idle RSS after 10 s: node ${(nodeRss / MB).toFixed(1)} MB, empty node ${(emptyRss / MB).toFixed(1)} MB`)
    const value = round(nodeRss / MB, 1)
    return [{
      suite: SUITE,
      name: 'idle RSS 10 s after start (one node, VmRSS)',
      value,
      unit: 'MB',
      baseline: { name: 'empty node process', value: round(emptyRss / MB, 1), unit: 'MB' },
      ratio: round(nodeRss / emptyRss, 2),
      target: '<= 120 MB',
      pass: value <= 120,
      note: '1 MB = 10^6 bytes; the node alone, no peers'
    }]
  } finally {
    if (empty !== undefined) await terminate(empty, 'SIGKILL')
    await cluster.destroy()
  }
}

// ---- failure detection ----

type ReportListener = (index: number, report: HealthReport, at: number) => void

/**
 * Asks every node's /health every POLL_INTERVAL_MS, each on its own loop, and hands each
 * answer to the listeners with the time it arrived. A node that is down or restarting is
 * simply skipped until its new URL is known.
 */
class HealthWatcher {
  private readonly cluster: Cluster
  private readonly listeners = new Set<ReportListener>()
  private loops: Array<Promise<void>> = []
  private running = false
  polls = 0

  constructor (cluster: Cluster) {
    this.cluster = cluster
  }

  on (listener: ReportListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.loops = this.cluster.nodes.map(async n => { await this.loop(n.index) })
  }

  async stop (): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
  }

  private async loop (index: number): Promise<void> {
    while (this.running) {
      const started = performance.now()
      const url = this.cluster.url(index)
      if (url !== undefined) {
        try {
          const report = await fetchHealth(url, 1000)
          this.polls++
          const at = performance.now()
          for (const listener of this.listeners) listener(index, report, at)
        } catch {
          // Down, restarting, or too busy to answer within 1 s: the next poll will tell.
        }
      }
      await sleep(Math.max(1, POLL_INTERVAL_MS - (performance.now() - started)))
    }
  }
}

interface FalseDeath {
  observer: number
  peer: number
  state: MemberState
  reason?: string
}

/**
 * Counts every time a node reports a live node (not the one just killed) suspect or dead: one
 * count per observer, peer and entry into that state.
 */
class FalseDeathCounter {
  readonly events: FalseDeath[] = []
  /** Peer IDs allowed to look dead right now: the node killed in the current round. */
  readonly exempt = new Set<string>()
  private readonly current = new Map<string, MemberState>()
  private readonly cluster: Cluster

  constructor (cluster: Cluster) {
    this.cluster = cluster
  }

  readonly observe: ReportListener = (index, report) => {
    for (const m of report.members) {
      if (m.self) continue
      const key = `${index}:${m.peerId}`
      const bad = (m.state === 'dead' || m.state === 'suspect') && !this.exempt.has(m.peerId)
      if (!bad) { this.current.delete(key); continue }
      if (this.current.get(key) === m.state) continue
      this.current.set(key, m.state)
      this.events.push({ observer: index + 1, peer: this.cluster.indexOf(m.peerId) + 1, state: m.state, ...(m.reason === undefined ? {} : { reason: m.reason }) })
    }
  }

  summary (): string {
    if (this.events.length === 0) return 'none'
    const shown = this.events.slice(0, 4).map(e => `node ${e.observer} saw node ${e.peer} ${e.state}${e.reason === undefined ? '' : ` (${e.reason})`}`)
    return `${shown.join('; ')}${this.events.length > 4 ? `; … ${this.events.length - 4} more` : ''}`
  }
}

interface PhaseResult {
  rounds: RoundResult[]
  falseDeaths: FalseDeathCounter
  polls: number
}

async function failureDetection (ctx: BenchContext, plan: Plan, mesh: Cluster): Promise<BenchRow[]> {
  await mesh.start()
  await mesh.waitAllAlive(MESH_TIMEOUT_MS)
  ctx.log(`${plan.meshSize}-node mesh formed`)
  const meshRss = await meshIdleRss(mesh)

  ctx.log('failure detection, idle machine')
  const idle = await detectionPhase(ctx, plan, mesh)

  ctx.log('failure detection, one core kept busy by a spinning process')
  const spinner = spawnTracked(ctx.nodeBin, ['-e', 'for(;;){}'], { stdio: 'ignore' })
  let busy: PhaseResult
  try {
    busy = await detectionPhase(ctx, plan, mesh, spinner)
  } finally {
    await terminate(spinner, 'SIGKILL')
  }

  const rows: BenchRow[] = [{
    suite: SUITE,
    name: `idle RSS in a ${plan.meshSize}-node mesh, median (VmRSS, >= 10 s after start)`,
    value: round(median(meshRss) / MB, 1),
    unit: 'MB',
    target: '<= 120 MB',
    pass: median(meshRss) / MB <= 120,
    note: `per node ${meshRss.map(b => (b / MB).toFixed(1)).join(', ')} MB`
  }]
  rows.push(...detectionRows(plan, idle, 'idle'))
  rows.push(...detectionRows(plan, busy, 'one core busy', idle))
  return rows
}

/** RSS of every mesh node, read once the youngest has run for 10 s. */
async function meshIdleRss (mesh: Cluster): Promise<number[]> {
  const youngest = Math.max(...mesh.nodes.map(n => Date.parse(n.runtime?.startedAt ?? '') || Date.now()))
  await sleep(Math.max(0, youngest + IDLE_AFTER_MS - Date.now()))
  return mesh.nodes.map(n => readRssBytes(mesh.pid(n.index) as number))
}

async function detectionPhase (ctx: BenchContext, plan: Plan, mesh: Cluster, spinner?: ChildProcess): Promise<PhaseResult> {
  const watcher = new HealthWatcher(mesh)
  const falseDeaths = new FalseDeathCounter(mesh)
  const rounds: RoundResult[] = []
  const offFalse = watcher.on(falseDeaths.observe)
  watcher.start()
  try {
    // Under load, let the scheduler and the nodes settle into it before the first kill.
    if (spinner !== undefined) await sleep(2000)
    for (let round = 0; round < plan.killRounds; round++) {
      if (spinner !== undefined && !isRunning(spinner)) throw new Error('the spinning process died; the busy-core figures would mean nothing')
      // Every node is a victim in turn, node 1 (everyone's bootstrap) included.
      const victim = (round + 1) % mesh.size
      rounds.push(await killAndDetect(ctx, mesh, watcher, falseDeaths, victim))
    }
    await sleep(TAIL_OBSERVE_MS)
  } finally {
    offFalse()
    await watcher.stop()
  }
  return { rounds, falseDeaths, polls: watcher.polls }
}

/** How an observer learnt of the death, from the reason its /health gives. */
type How = 'probe' | 'notice' | 'silence' | 'other'

function howDetected (reason: string | undefined): How {
  if (reason === undefined) return 'other'
  if (reason.startsWith('connection lost')) return 'probe'
  if (reason.startsWith('reported by')) return 'notice'
  if (reason.startsWith('no heartbeat')) return 'silence'
  return 'other'
}

interface RoundResult {
  /** Kill → last other node reporting the victim dead, ms; null if not within the timeout. */
  ms: number | null
  /** Per observer, how it learnt of the death. */
  how: How[]
  /** Observers that had a direct connection to the victim just before the kill. */
  directBefore: number
}

async function killAndDetect (ctx: BenchContext, mesh: Cluster, watcher: HealthWatcher, falseDeaths: FalseDeathCounter, victim: number): Promise<RoundResult> {
  const victimId = mesh.nodes[victim]?.peerId as string
  const observers = mesh.nodes.map(n => n.index).filter(i => i !== victim)
  const seenDead = new Map<number, { at: number, how: How }>()
  let killedAt = Infinity
  const offDead = watcher.on((index, report, at) => {
    if (index === victim || seenDead.has(index) || at < killedAt) return
    const member = report.members.find(m => m.peerId === victimId)
    if (member?.state === 'dead') seenDead.set(index, { at, how: howDetected(member.reason) })
  })
  // Which paths could fire: only a direct neighbour sees the connection drop.
  const before = await mesh.healthAll()
  const directBefore = observers.filter(i => before[i]?.members.find(m => m.peerId === victimId)?.connected === true).length
  falseDeaths.exempt.add(victimId)
  let ms: number | null = null
  try {
    killedAt = performance.now()
    await mesh.kill(victim, 'SIGKILL')
    await waitFor(() => observers.every(i => seenDead.has(i)), { timeoutMs: DETECT_TIMEOUT_MS, intervalMs: 5, what: `every node to report node ${victim + 1} dead` })
    ms = Math.max(...observers.map(i => seenDead.get(i)?.at as number)) - killedAt
    const each = observers.map(i => { const s = seenDead.get(i); return `node ${i + 1} ${Math.round((s?.at ?? NaN) - killedAt)} ${s?.how ?? '?'}` })
    ctx.log(`killed node ${victim + 1} (${directBefore}/${observers.length} directly connected): seen dead by all after ${Math.round(ms)} ms (${each.join(', ')})`)
  } catch (err) {
    ctx.log(`killed node ${victim + 1} (${directBefore}/${observers.length} directly connected): ${(err as Error).message}`)
  } finally {
    offDead()
  }
  await mesh.startNode(victim)
  await mesh.waitAllAlive(MESH_TIMEOUT_MS)
  // A /health answer already on its way may still show the old death: let it land first.
  await sleep(200)
  falseDeaths.exempt.delete(victimId)
  return { ms, how: [...seenDead.values()].map(s => s.how), directBefore }
}

function detectionRows (plan: Plan, phase: PhaseResult, label: string, reference?: PhaseResult): BenchRow[] {
  const detected = detectedMs(phase)
  const missed = phase.rounds.length - detected.length
  const rounds = phase.rounds.map(r => r.ms === null ? 'miss' : `${Math.round(r.ms)}`).join(', ')
  const how = new Map<How, number>()
  for (const h of phase.rounds.flatMap(r => r.how)) how.set(h, (how.get(h) ?? 0) + 1)
  const howText = [...how].map(([h, n]) => `${h} ${n}`).join(', ')
  const note = `${plan.meshSize} nodes, SIGKILL, ${phase.rounds.length} rounds: ${rounds} ms; how observers learnt it: ${howText}; /health polled every ${POLL_INTERVAL_MS} ms per node${missed > 0 ? `; ${missed} kill(s) not seen by all within ${DETECT_TIMEOUT_MS} ms` : ''}`
  const med = detected.length === 0 ? NaN : round(median(detected))
  const max = detected.length === 0 ? NaN : round(Math.max(...detected))
  const refDetected = reference === undefined ? [] : detectedMs(reference)
  const withBaseline = (value: number, refValue: number, what: string): Pick<BenchRow, 'baseline' | 'ratio'> =>
    reference === undefined || refDetected.length === 0
      ? {}
      : { baseline: { name: `${what}, idle`, value: refValue, unit: 'ms' }, ratio: round(value / refValue, 2) }
  return [
    {
      suite: SUITE,
      name: `failure detection (kill → all others see dead), median, ${label}`,
      value: med,
      unit: 'ms',
      ...withBaseline(med, round(median(refDetected)), 'median'),
      target: '<= 3000 ms',
      pass: missed === 0 && med <= 3000,
      note
    },
    {
      suite: SUITE,
      name: `failure detection, max, ${label}`,
      value: max,
      unit: 'ms',
      ...withBaseline(max, round(Math.max(...refDetected)), 'max'),
      target: '<= 3000 ms',
      pass: missed === 0 && max <= 3000
    },
    {
      suite: SUITE,
      name: `false deaths (live node reported suspect/dead), ${label}`,
      value: phase.falseDeaths.events.length,
      unit: 'reports',
      target: '0',
      pass: phase.falseDeaths.events.length === 0,
      note: `${phase.polls} /health answers observed; ${phase.falseDeaths.summary()}`
    }
  ]
}

function detectedMs (phase: PhaseResult): number[] {
  return phase.rounds.flatMap(r => r.ms === null ? [] : [r.ms])
}

function median (values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

function round (value: number, digits = 0): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
