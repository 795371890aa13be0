/**
 * Tasks on a 3-node mesh of real node processes (loopback, capacities 1/2/3, the fake Claude
 * CLI inside the orphan guard, as shipped):
 *
 * - dispatch latency: from the 202 of `POST /tasks`, and of a routed webhook, to the moment the
 *   chosen node spawns the runner (the attempt's `startedAt`, written just before spawn()), and
 *   to the CLI actually running (the fake CLI's own start record). Baseline: spawning the same
 *   fake CLI (and the guard around it) straight from this process, measured the same way.
 * - placement quality: 60 tasks burst into the mesh at once (20 per node); from the fake CLI's
 *   start/end records, how many ran at once on each node against its capacity, how evenly the
 *   load was spread (running/capacity, max minus min across nodes) while tasks were waiting, how
 *   busy the 6 slots were, and the makespan against the ideal.
 *
 * All timestamps are Date.now() on one machine, so processes' clocks agree.
 */
import { createHmac, randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { percentile } from '../agent/cluster.ts'
import { Cluster } from '../../lib/cluster.ts'
import { exited, spawnTracked } from '../../lib/proc.ts'
import { sleep, waitFor } from '../../lib/wait.ts'
import type { TaskView } from '../../../src/tasks/view.ts'
import type { BenchContext, BenchRow, BenchSuite } from '../types.ts'

const SUITE = 'tasks'
const CAPACITIES = [1, 2, 3]
const SECRET = 'bench-secret-0123456789abcdef'
const BURST = 60

interface Plan { submits: number, webhooks: number, spawns: number }
const FULL: Plan = { submits: 150, webhooks: 60, spawns: 30 }
const QUICK: Plan = { submits: 30, webhooks: 12, spawns: 8 }

interface RecordEntry { event: string, pid: number, at: number, prompt?: string, env?: Record<string, string> }

function readRecord (file: string): RecordEntry[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as RecordEntry)
}

function round (n: number): number {
  return Math.round(n * 100) / 100
}

export const suite: BenchSuite = {
  name: SUITE,
  async run (ctx) {
    const plan = ctx.quick ? QUICK : FULL
    const fake = join(ctx.root, 'test', 'fixtures', 'runner', 'fake-claude.mjs')
    const guard = join(ctx.root, 'src', 'tasks', 'orphan-guard.mjs')
    const record = join(ctx.tmpDir, 'record.jsonl')
    const rows: BenchRow[] = []
    const baseline = await spawnBaseline(ctx, plan, fake, guard)
    rows.push(...baseline.rows)

    const cluster = await Cluster.create({ size: 3, parentDir: ctx.tmpDir, nodeBin: ctx.nodeBin, root: ctx.root, log: ctx.log })
    try {
      for (const node of cluster.nodes) {
        writeFileSync(join(node.dataDir, 'config.yaml'), JSON.stringify({
          tasks: {
            capacity: CAPACITIES[node.index],
            workspaces: { root: join(node.dataDir, 'workspaces') },
            runner: {
              command: [ctx.nodeBin, fake],
              envPassThrough: [],
              env: { FAKE_CLAUDE_RECORD: record, FAKE_CLAUDE_NODE: `node${node.index + 1}`, FAKE_CLAUDE_LINES: '4', FAKE_CLAUDE_INTERVAL_MS: '100' }
            }
          },
          webhooks: {
            sources: { bench: { scheme: 'generic', secrets: [SECRET] } },
            rules: [{ name: 'bench-task', match: { source: 'bench' }, actions: [{ kind: 'task', prompt: '{{ payload.prompt }}' }] }]
          }
        }))
      }
      await cluster.start()
      await cluster.waitAllAlive(30_000)
      // Load reports ride on heartbeats (1 s) and the events module settles for 3 s after start.
      await sleep(4000)
      rows.push(...await dispatch(ctx, cluster, plan, record, baseline.guardedP50))
      rows.push(...await burst(ctx, cluster, record))
    } finally {
      await cluster.destroy()
    }
    return rows
  }
}

/** Spawning the fake CLI (and the guard around it) from here: spawn() → its start record. */
async function spawnBaseline (ctx: BenchContext, plan: Plan, fake: string, guard: string): Promise<{ rows: BenchRow[], guardedP50: number }> {
  const file = join(ctx.tmpDir, 'baseline.jsonl')
  const measure = async (argv: string[]): Promise<number[]> => {
    const out: number[] = []
    for (let i = 0; i < plan.spawns; i++) {
      const before = readRecord(file).length
      const at = Date.now()
      const child = spawnTracked(argv[0] as string, argv.slice(1), { env: { ...process.env, FAKE_CLAUDE_RECORD: file }, stdio: ['pipe', 'ignore', 'ignore'] })
      child.stdin?.end('baseline run')
      await exited(child)
      const start = readRecord(file).slice(before).find(e => e.event === 'start')
      if (start !== undefined) out.push(start.at - at)
    }
    return out
  }
  const direct = await measure([ctx.nodeBin, fake])
  const guarded = await measure([ctx.nodeBin, guard, '1000', '--', ctx.nodeBin, fake])
  ctx.log(`spawn baseline: fake CLI p50 ${percentile(direct, 50)} ms, inside the guard p50 ${percentile(guarded, 50)} ms`)
  return {
    guardedP50: percentile(guarded, 50),
    rows: [
      { suite: SUITE, name: 'baseline: spawn() → fake CLI running, p50', value: percentile(direct, 50), unit: 'ms', note: `${direct.length} spawns from the bench process` },
      { suite: SUITE, name: 'baseline: spawn() → fake CLI in the orphan guard running, p50', value: percentile(guarded, 50), unit: 'ms' }
    ]
  }
}

async function post (url: string, path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number, json: unknown }> {
  const response = await fetch(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(10_000) })
  return { status: response.status, json: await response.json() }
}

async function getTask (url: string, id: string): Promise<TaskView | undefined> {
  const response = await fetch(`${url}/tasks/${encodeURIComponent(id)}`, { signal: AbortSignal.timeout(5000) })
  return response.ok ? ((await response.json()) as { task: TaskView }).task : undefined
}

interface Sample { toSpawn: number, toRunning: number, fromRequest: number, toSubmit: number, submitToSpawn: number }

async function dispatch (ctx: BenchContext, cluster: Cluster, plan: Plan, record: string, guardedP50: number): Promise<BenchRow[]> {
  const urls = [0, 1, 2].map(i => cluster.url(i) as string)
  const startOf = (marker: string): number | undefined => readRecord(record).find(e => e.event === 'start' && e.prompt?.includes(marker) === true)?.at

  const submits: Sample[] = []
  for (let i = 0; i < plan.submits; i++) {
    const url = urls[i % 3] as string
    const id = `bench-${i}-${randomUUID().slice(0, 8)}`
    const sent = Date.now()
    const { status } = await post(url, '/tasks', JSON.stringify({ id, prompt: `dispatch ${id}` }))
    const accepted = Date.now()
    if (status !== 202) throw new Error(`POST /tasks answered ${status}`)
    const task = await waitFor(async () => {
      const t = await getTask(url, id)
      return t?.attempts[0]?.startedAt !== undefined && t.status !== 'assigned' ? t : undefined
    }, { timeoutMs: 10_000, intervalMs: 5, what: `${id} to start` })
    const running = await waitFor(() => startOf(id), { timeoutMs: 10_000, intervalMs: 5, what: `${id}'s CLI to start` })
    const spawnedAt = task.attempts[0]?.startedAt as number
    submits.push({ toSpawn: spawnedAt - accepted, toRunning: running - accepted, fromRequest: spawnedAt - sent, toSubmit: task.createdAt - accepted, submitToSpawn: spawnedAt - task.createdAt })
    // Let it finish: the latency of an idle mesh, not of a queue.
    await waitFor(async () => (await getTask(url, id))?.status === 'succeeded', { timeoutMs: 10_000, intervalMs: 20, what: `${id} to finish` })
  }

  const hooks: Sample[] = []
  for (let i = 0; i < plan.webhooks; i++) {
    const url = urls[i % 3] as string
    const marker = `hook-${i}-${randomUUID().slice(0, 8)}`
    const body = JSON.stringify({ prompt: `dispatch ${marker}` })
    const signature = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`
    const sent = Date.now()
    const { status } = await post(url, '/webhook/bench', body, { 'x-signature': signature, 'x-event-id': marker })
    const accepted = Date.now()
    if (status !== 202) throw new Error(`POST /webhook/bench answered ${status}`)
    const running = await waitFor(() => startOf(marker), { timeoutMs: 15_000, intervalMs: 5, what: `${marker}'s CLI to start` })
    const task = await waitFor(async () => {
      const response = await fetch(`${url}/tasks?limit=20`, { signal: AbortSignal.timeout(5000) })
      const list = ((await response.json()) as { tasks: TaskView[] }).tasks
      const found = list.find(t => t.prompt.includes(marker))
      return found?.attempts[0]?.startedAt !== undefined ? found : undefined
    }, { timeoutMs: 10_000, intervalMs: 10, what: `${marker}'s task` })
    const spawnedAt = task.attempts[0]?.startedAt as number
    hooks.push({ toSpawn: spawnedAt - accepted, toRunning: running - accepted, fromRequest: spawnedAt - sent, toSubmit: task.createdAt - accepted, submitToSpawn: spawnedAt - task.createdAt })
    await waitFor(async () => (await getTask(url, task.id))?.status === 'succeeded', { timeoutMs: 10_000, intervalMs: 20, what: `${marker} to finish` })
  }

  const p = (samples: Sample[], key: keyof Sample, q: number): number => percentile(samples.map(s => s[key]), q)
  ctx.log(`dispatch: submit 202 → spawn p50 ${p(submits, 'toSpawn', 50)} p99 ${p(submits, 'toSpawn', 99)} ms; webhook 202 → spawn p50 ${p(hooks, 'toSpawn', 50)} p99 ${p(hooks, 'toSpawn', 99)} ms`)
  const local = submits.length
  return [
    { suite: SUITE, name: 'submit 202 → runner spawn on the chosen node, p50', value: p(submits, 'toSpawn', 50), unit: 'ms', note: `${local} tasks, 3-node mesh, idle; below 0 when the node spawned before the client had read its 202` },
    { suite: SUITE, name: 'submit 202 → runner spawn on the chosen node, p99', value: p(submits, 'toSpawn', 99), unit: 'ms', target: '<= 100 ms', pass: p(submits, 'toSpawn', 99) <= 100 },
    { suite: SUITE, name: 'submit request sent → runner spawn, p99', value: p(submits, 'fromRequest', 99), unit: 'ms', note: 'includes the durable write before the 202' },
    {
      suite: SUITE,
      name: 'submit 202 → CLI process running, p50',
      value: p(submits, 'toRunning', 50),
      unit: 'ms',
      baseline: { name: 'spawn() → fake CLI in the guard running, p50', value: guardedP50, unit: 'ms' },
      ratio: round(p(submits, 'toRunning', 50) / Math.max(1, guardedP50)),
      note: 'mostly process start-up of the guard and the CLI'
    },
    { suite: SUITE, name: 'submit 202 → CLI process running, p99', value: p(submits, 'toRunning', 99), unit: 'ms' },
    { suite: SUITE, name: 'webhook 202 → runner spawn, p50', value: p(hooks, 'toSpawn', 50), unit: 'ms', note: `${hooks.length} signed generic webhooks routed to a task action; includes the events module's claim settle (events.claimSettleMs, 50 ms)` },
    { suite: SUITE, name: 'webhook 202 → runner spawn, p99', value: p(hooks, 'toSpawn', 99), unit: 'ms', target: '<= 100 ms', pass: p(hooks, 'toSpawn', 99) <= 100 },
    { suite: SUITE, name: 'webhook: 202 → events module submits the task, p50 / p99', value: p(hooks, 'toSubmit', 50), unit: 'ms', note: `p99 ${p(hooks, 'toSubmit', 99)} ms: the events pipeline (claim settle, dispatch)` },
    { suite: SUITE, name: 'webhook: task submitted → runner spawn, p50 / p99', value: p(hooks, 'submitToSpawn', 50), unit: 'ms', target: 'p99 <= 100 ms', pass: p(hooks, 'submitToSpawn', 99) <= 100, note: `p99 ${p(hooks, 'submitToSpawn', 99)} ms: placement, offer, workspace, spawn` }
  ]
}

interface Interval { node: string, start: number, end: number }

/**
 * Over [from, until), with one interval per run: the largest running/capacity on any node, the
 * time-weighted mean of (max - min) running/capacity across nodes, and the share of the 6 slots
 * in use.
 */
function occupancy (intervals: Interval[], capacity: Record<string, number>, from: number, until: number): { maxRatio: number, meanSpread: number, busy: number } {
  const events = intervals.flatMap(r => [{ at: r.start, node: r.node, d: 1 }, { at: r.end, node: r.node, d: -1 }]).sort((a, b) => a.at - b.at || a.d - b.d)
  const slots = Object.values(capacity).reduce((s, c) => s + c, 0)
  const running: Record<string, number> = Object.fromEntries(Object.keys(capacity).map(n => [n, 0]))
  let maxRatio = 0
  let spreadArea = 0
  let busyArea = 0
  let prev = from
  for (const e of events) {
    const to = Math.min(Math.max(e.at, from), until)
    if (to > prev) {
      const ratios = Object.keys(capacity).map(n => (running[n] as number) / (capacity[n] as number))
      spreadArea += (Math.max(...ratios) - Math.min(...ratios)) * (to - prev)
      busyArea += Object.values(running).reduce((sum, v) => sum + v, 0) / slots * (to - prev)
      prev = to
    }
    running[e.node] = (running[e.node] ?? 0) + e.d
    maxRatio = Math.max(maxRatio, (running[e.node] as number) / (capacity[e.node] ?? 1))
  }
  const window = Math.max(1, until - from)
  return { maxRatio, meanSpread: spreadArea / window, busy: busyArea / window }
}

async function burst (ctx: BenchContext, cluster: Cluster, record: string): Promise<BenchRow[]> {
  const urls = [0, 1, 2].map(i => cluster.url(i) as string)
  const names = new Map(cluster.nodes.map(n => [n.peerId, `node${n.index + 1}`]))
  const capacity: Record<string, number> = { node1: CAPACITIES[0] as number, node2: CAPACITIES[1] as number, node3: CAPACITIES[2] as number }
  const tag = `burst-${randomUUID().slice(0, 8)}`
  const startedAt = Date.now()
  await Promise.all(Array.from({ length: BURST }, async (_, i) => {
    const { status } = await post(urls[i % 3] as string, '/tasks', JSON.stringify({ id: `${tag}-${i}`, prompt: `slow ${tag}-${i} .` }))
    if (status !== 202) throw new Error(`POST /tasks answered ${status}`)
  }))
  const tasks = await waitFor(async () => {
    const response = await fetch(`${urls[0] as string}/tasks?status=succeeded&limit=1000`, { signal: AbortSignal.timeout(5000) })
    const done = ((await response.json()) as { tasks: TaskView[] }).tasks.filter(t => t.id.startsWith(tag))
    return done.length === BURST ? done : undefined
  }, { timeoutMs: 120_000, intervalMs: 200, what: `the ${BURST} burst tasks to finish` })

  // Slots as the nodes account them: from accepting the offer to the end of the run.
  const slotsHeld: Interval[] = tasks.map(t => {
    const a = t.attempts[0] as TaskView['attempts'][number]
    return { node: names.get(a.node) ?? '?', start: a.offeredAt, end: a.endedAt ?? a.offeredAt }
  })
  // CLI processes, from the fake CLI's own start and end records.
  const byPid = new Map<number, Interval & { prompt: string }>()
  for (const e of readRecord(record)) {
    if (e.event === 'start' && e.prompt?.includes(tag) === true) byPid.set(e.pid, { node: e.env?.FAKE_CLAUDE_NODE ?? '?', start: e.at, end: Infinity, prompt: e.prompt })
    if (e.event === 'end' && byPid.has(e.pid)) (byPid.get(e.pid) as Interval).end = e.at
  }
  const processes = [...byPid.values()]
  // Tasks waited for a slot until the last one was accepted.
  const lastAccept = Math.max(...slotsHeld.map(r => r.start))
  const firstAccept = Math.min(...slotsHeld.map(r => r.start))
  const held = occupancy(slotsHeld, capacity, firstAccept, lastAccept)
  const ran = occupancy(processes, capacity, firstAccept, lastAccept)
  const perNode = Object.fromEntries(Object.keys(capacity).map(n => [n, slotsHeld.filter(r => r.node === n).length]))
  const startup = tasks.map(t => {
    const a = t.attempts[0] as TaskView['attempts'][number]
    const p = processes.find(x => x.prompt.includes(`${t.id} .`))
    return p === undefined || a.startedAt === undefined ? undefined : p.start - a.startedAt
  }).filter((x): x is number => x !== undefined)
  const refill: number[] = []
  for (const n of Object.keys(capacity)) {
    const mine = slotsHeld.filter(r => r.node === n)
    for (const r of mine) {
      // The next acceptance on the node after this run freed its slot.
      const next = mine.filter(x => x.start >= r.end).map(x => x.start - r.end).sort((x, y) => x - y)[0]
      if (next !== undefined && r.end < lastAccept) refill.push(next)
    }
  }
  const meanHold = slotsHeld.reduce((sum, r) => sum + (r.end - r.start), 0) / slotsHeld.length
  const ideal = BURST * meanHold / 6
  const makespan = Math.max(...slotsHeld.map(r => r.end)) - startedAt
  ctx.log(`burst: per node ${JSON.stringify(perNode)}; slots held: max ratio ${round(held.maxRatio)}, spread ${round(held.meanSpread)}, busy ${round(100 * held.busy)} %; CLI processes: max ratio ${round(ran.maxRatio)}, busy ${round(100 * ran.busy)} %; spawn → CLI running p50 ${percentile(startup, 50)} ms; slot refill p50 ${percentile(refill, 50)} p99 ${percentile(refill, 99)} ms`)
  return [
    { suite: SUITE, name: `burst of ${BURST} into capacities 1/2/3: max running/capacity on any node (CLI processes)`, value: round(ran.maxRatio), unit: 'ratio', target: '<= 1 (never over capacity)', pass: ran.maxRatio <= 1, note: `tasks per node ${JSON.stringify(perNode)}` },
    { suite: SUITE, name: 'burst: max over time of running/capacity spread (max - min across nodes) while tasks waited, slots held', value: round(maxSpread(slotsHeld, capacity, firstAccept, lastAccept)), unit: 'ratio', note: 'includes the instants between a run ending and its slot being refilled' },
    { suite: SUITE, name: 'burst: running/capacity spread while tasks waited, time-weighted mean, slots held', value: round(held.meanSpread), unit: 'ratio', target: '<= 0.1', pass: held.meanSpread <= 0.1 },
    { suite: SUITE, name: 'burst: slots held while tasks waited', value: round(100 * held.busy), unit: '%', target: '>= 95 %', pass: held.busy >= 0.95 },
    { suite: SUITE, name: 'burst: freed slot → next task accepted on it, p50 / p99', value: percentile(refill, 50), unit: 'ms', note: `p99 ${percentile(refill, 99)} ms over ${refill.length} refills` },
    { suite: SUITE, name: 'burst: slots running a CLI process while tasks waited', value: round(100 * ran.busy), unit: '%', note: `the rest is process start-up: runner spawn → CLI running p50 ${percentile(startup, 50)} ms, p99 ${percentile(startup, 99)} ms on this machine` },
    { suite: SUITE, name: 'burst: makespan', value: makespan, unit: 'ms', baseline: { name: 'ideal (60 × mean slot hold / 6 slots)', value: Math.round(ideal), unit: 'ms' }, ratio: round(makespan / ideal) }
  ]
}

/** The largest instantaneous spread of running/capacity across nodes within [from, until). */
function maxSpread (intervals: Interval[], capacity: Record<string, number>, from: number, until: number): number {
  const events = intervals.flatMap(r => [{ at: r.start, node: r.node, d: 1 }, { at: r.end, node: r.node, d: -1 }]).sort((a, b) => a.at - b.at || a.d - b.d)
  const running: Record<string, number> = Object.fromEntries(Object.keys(capacity).map(n => [n, 0]))
  let max = 0
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as { at: number, node: string, d: number }
    running[e.node] = (running[e.node] ?? 0) + e.d
    const next = events[i + 1]?.at ?? e.at
    // Only states that lasted, inside the window.
    if (e.at < from || e.at >= until || next === e.at) continue
    const ratios = Object.keys(capacity).map(n => (running[n] as number) / (capacity[n] as number))
    max = Math.max(max, Math.max(...ratios) - Math.min(...ratios))
  }
  return max
}
