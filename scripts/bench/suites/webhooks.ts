/**
 * Webhook ingest on one node of a 3-node mesh, against a bare node:http server answering the
 * same requests in the same run: signed GitHub-style 1 KiB deliveries over many keep-alive
 * connections, closed loop (each connection sends its next request when the answer arrives).
 * Every idlemesh answer is a 202 given after the event is on disk (synced), deduplicated and on
 * its way to the other two nodes by gossip. Then, one delivery at a time: how long until all 3
 * nodes hold the event.
 */
import { createHmac, randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { Cluster } from '../../lib/cluster.ts'
import { spawnTracked, terminate } from '../../lib/proc.ts'
import { sleep } from '../../lib/wait.ts'
import type { BenchContext, BenchRow, BenchSuite } from '../types.ts'

const SUITE = 'webhooks'
const SECRET = 'bench-webhook-secret'
const SOURCE = 'gh'

interface Plan {
  /** Concurrent keep-alive connections of the load generator. */
  connections: number
  warmupMs: number
  measureMs: number
  /** Rounds per target, alternating bare and idlemesh so both see the same machine. */
  rounds: number
  /** Deliveries sent one at a time for the time-to-all-nodes figure. */
  spreadSamples: number
  /** Paced (open-loop) load: a webhook receiver's usual life is far below saturation. */
  pacedRate: number
  pacedMs: number
}

const FULL: Plan = { connections: 64, warmupMs: 2000, measureMs: 8000, rounds: 2, spreadSamples: 300, pacedRate: 500, pacedMs: 8000 }
const QUICK: Plan = { connections: 32, warmupMs: 500, measureMs: 2000, rounds: 1, spreadSamples: 50, pacedRate: 500, pacedMs: 2000 }

/** The bare baseline: reads the body, answers as idlemesh does. Nothing else. */
const BARE_SERVER = `
const http = require('node:http')
const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', c => chunks.push(c))
  req.on('end', () => {
    Buffer.concat(chunks)
    const body = JSON.stringify({ status: 'queued', event_id: req.headers['x-github-delivery'] })
    res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
})
server.keepAliveTimeout = 60000
server.listen(0, '127.0.0.1', () => { process.stdout.write(String(server.address().port) + '\\n') })
`

/** A GitHub-style delivery of about 1 KiB with a fresh id, signed as GitHub signs it. */
function delivery (seq: number): { id: string, body: Buffer, headers: Record<string, string> } {
  const id = randomUUID()
  const base = {
    action: 'completed',
    check_run: { id: seq, name: 'bench', status: 'completed', conclusion: 'success', head_sha: '6113728f27ae82c7b1a177c8d03f9e96e0adf246', html_url: `https://github.com/acme/bench/runs/${seq}` },
    repository: { id: 1296269, name: 'bench', full_name: 'acme/bench', private: false },
    sender: { login: 'octocat', id: 1, type: 'User' },
    padding: ''
  }
  const unpadded = JSON.stringify(base).length
  base.padding = 'x'.repeat(Math.max(0, 1024 - unpadded))
  const body = Buffer.from(JSON.stringify(base))
  return {
    id,
    body,
    headers: {
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': 'GitHub-Hookshot/bench',
      'x-github-event': 'check_run',
      'x-github-delivery': id,
      'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`
    }
  }
}

interface LoadResult {
  requests: number
  errors: number
  /** Statuses other than 202, counted. */
  statuses: Record<string, number>
  seconds: number
  latenciesMs: number[]
}

/** Latencies of the 202s, other statuses counted, connection errors counted. */
class Recorder {
  readonly latenciesMs: number[] = []
  readonly statuses: Record<string, number> = {}
  errors = 0
  private readonly agent: Agent
  private readonly target: URL

  constructor (url: string, maxSockets: number) {
    this.agent = new Agent({ keepAlive: true, maxSockets })
    this.target = new URL(url)
  }

  /**
   * Sends one delivery. Its latency counts from when it is sent or, for paced load, from when it
   * was due if that was earlier (a late send is not flattering).
   */
  async send (seq: number, due?: number): Promise<void> {
    const d = delivery(seq)
    const start = due === undefined ? performance.now() : Math.min(performance.now(), due)
    await new Promise<void>((resolve) => {
      const req = request({ host: this.target.hostname, port: this.target.port, path: `/webhook/${SOURCE}`, method: 'POST', headers: d.headers, agent: this.agent }, (res) => {
        res.on('data', () => {})
        res.on('end', () => {
          if (res.statusCode === 202) this.latenciesMs.push(performance.now() - start)
          else this.statuses[String(res.statusCode)] = (this.statuses[String(res.statusCode)] ?? 0) + 1
          resolve()
        })
      })
      req.on('error', () => { this.errors++; resolve() })
      req.end(d.body)
    })
  }

  result (seconds: number): LoadResult {
    this.agent.destroy()
    return { requests: this.latenciesMs.length, errors: this.errors, statuses: this.statuses, seconds, latenciesMs: this.latenciesMs }
  }
}

/** Open-loop load on `url`: one request every 1/rate s whatever the answers, for `durationMs`. */
async function paced (url: string, rate: number, durationMs: number): Promise<LoadResult> {
  const recorder = new Recorder(url, 256)
  const started = performance.now()
  const total = Math.round(rate * durationMs / 1000)
  const inflight: Array<Promise<void>> = []
  for (let i = 0; i < total; i++) {
    const due = started + i * 1000 / rate
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    inflight.push(recorder.send(2_000_000 + i, due))
  }
  await Promise.all(inflight)
  return recorder.result((performance.now() - started) / 1000)
}

/** Closed-loop load on `url`: `connections` workers, for `durationMs`, recording latencies. */
async function load (url: string, connections: number, durationMs: number): Promise<LoadResult> {
  const recorder = new Recorder(url, connections)
  let seq = 0
  const started = performance.now()
  const stopAt = started + durationMs
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < stopAt) await recorder.send(seq++)
  }))
  return recorder.result((performance.now() - started) / 1000)
}

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] ?? NaN
}

function round (n: number): number {
  return Math.round(n * 100) / 100
}

/** CPU time a process used so far, ms (Linux: utime + stime of /proc/PID/stat, 100 ticks/s). */
function cpuMs (pid: number | undefined): number {
  if (pid === undefined) return NaN
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

async function startBare (): Promise<{ url: string, pid: number | undefined, stop: () => Promise<void> }> {
  const child = spawnTracked(process.execPath, ['-e', BARE_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').once('data', (line: string) => { resolve(line.trim()) })
    child.once('exit', (code) => { reject(new Error(`bare server exited with ${String(code)}`)) })
  })
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: async () => { await terminate(child, 'SIGKILL') } }
}

/** GET /events/:id until the node holds the event; resolves with the time it was seen. */
async function seenAt (agent: Agent, base: string, id: string, deadline: number): Promise<number> {
  const target = new URL(base)
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = request({ host: target.hostname, port: target.port, path: `/events/${id}?source=${SOURCE}`, agent }, (res) => {
        res.on('data', () => {})
        res.on('end', () => { resolve(res.statusCode ?? 0) })
      })
      req.on('error', () => { resolve(0) })
      req.end()
    })
    if (status === 200) return performance.now()
    if (performance.now() > deadline) return NaN
  }
}

async function spread (ctx: BenchContext, urls: [string, string, string], samples: number): Promise<BenchRow[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 })
  const latencies: number[] = []
  let missed = 0
  for (let s = 0; s < samples; s++) {
    const d = delivery(1_000_000 + s)
    const t0 = performance.now()
    const target = new URL(urls[0])
    const status = await new Promise<number>((resolve) => {
      const req = request({ host: target.hostname, port: target.port, path: `/webhook/${SOURCE}`, method: 'POST', headers: d.headers, agent }, (res) => {
        res.on('data', () => {})
        res.on('end', () => { resolve(res.statusCode ?? 0) })
      })
      req.on('error', () => { resolve(0) })
      req.end(d.body)
    })
    if (status !== 202) { missed++; continue }
    const deadline = performance.now() + 10_000
    // Polled on both other nodes at once: the later of the two is when all 3 hold it.
    const seen = await Promise.all([seenAt(agent, urls[1], d.id, deadline), seenAt(agent, urls[2], d.id, deadline)])
    if (seen.some(Number.isNaN)) { missed++; continue }
    latencies.push(Math.max(...seen) - t0)
    await sleep(5)
  }
  agent.destroy()
  const p50 = percentile(latencies, 50)
  const p99 = percentile(latencies, 99)
  ctx.log(`spread: ${latencies.length}/${samples} deliveries seen on all 3 nodes; p50 ${round(p50)} ms, p99 ${round(p99)} ms`)
  return [
    { suite: SUITE, name: 'POST on node 1 → held by all 3 nodes, p50', value: round(p50), unit: 'ms', note: 'from sending the request; polled with GET /events/:id on nodes 2 and 3 (adds up to ~1 ms)' },
    { suite: SUITE, name: 'POST on node 1 → held by all 3 nodes, p99', value: round(p99), unit: 'ms', target: '<= 100 ms', pass: p99 <= 100 && missed === 0, ...(missed === 0 ? {} : { note: `${missed} deliveries not seen everywhere within 10 s` }) }
  ]
}

export const suite: BenchSuite = {
  name: SUITE,
  async run (ctx) {
    const plan = ctx.quick ? QUICK : FULL
    const cluster = await Cluster.create({ size: 3, parentDir: ctx.tmpDir, nodeBin: ctx.nodeBin, root: ctx.root, log: ctx.log })
    const bare = await startBare()
    try {
      // Every node accepts the bench source; check_run has no rule, so its default action is a noop.
      for (const node of cluster.nodes) {
        writeFileSync(join(node.dataDir, 'config.yaml'), JSON.stringify({ webhooks: { sources: { [SOURCE]: { scheme: 'github', secrets: [SECRET] } } } }))
      }
      await cluster.start()
      await cluster.waitAllAlive(30_000)
      const urls = [cluster.url(0), cluster.url(1), cluster.url(2)] as [string, string, string]

      const runs: Record<'bare' | 'idlemesh', LoadResult[]> = { bare: [], idlemesh: [] }
      // CPU each process spent per accepted request, over the measured windows: what the ratio
      // of req/s comes down to when every process shares the same two cores.
      const cpu = { bare: 0, node1: 0, peers: 0 }
      const pids = [cluster.pid(0), cluster.pid(1), cluster.pid(2)]
      for (let round = 0; round < plan.rounds; round++) {
        for (const [name, url] of [['bare', bare.url], ['idlemesh', urls[0]]] as const) {
          await load(url, plan.connections, plan.warmupMs)
          const before = [cpuMs(bare.pid), ...pids.map(cpuMs)]
          const result = await load(url, plan.connections, plan.measureMs)
          const after = [cpuMs(bare.pid), ...pids.map(cpuMs)]
          const used = after.map((a, i) => a - (before[i] as number))
          if (name === 'bare') cpu.bare += used[0] as number
          else { cpu.node1 += used[1] as number; cpu.peers += ((used[2] as number) + (used[3] as number)) / 2 }
          runs[name].push(result)
          ctx.log(`${name} round ${round + 1}: ${Math.round(result.requests / result.seconds)} req/s, p50 ${round2(percentile(result.latenciesMs, 50))} ms, p99 ${round2(percentile(result.latenciesMs, 99))} ms, errors ${result.errors}, other statuses ${JSON.stringify(result.statuses)}`)
        }
      }
      const figures = (results: LoadResult[]): { rps: number, p50: number, p99: number, failed: number } => {
        const latencies = results.flatMap(r => r.latenciesMs)
        const requests = results.reduce((n, r) => n + r.requests, 0)
        const seconds = results.reduce((n, r) => n + r.seconds, 0)
        const failed = results.reduce((n, r) => n + r.errors + Object.values(r.statuses).reduce((a, b) => a + b, 0), 0)
        return { rps: requests / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), failed }
      }
      const b = figures(runs.bare)
      const m = figures(runs.idlemesh)

      // What the mesh ended up holding: every accepted delivery, on every node.
      const health = await cluster.healthAll(10_000)
      const stored = health.map(h => (h?.events as { stored?: number } | undefined)?.stored ?? 0)
      ctx.log(`events stored per node after the load: ${stored.join(', ')}`)

      const bareCount = runs.bare.reduce((n, r) => n + r.requests, 0)
      const meshCount = runs.idlemesh.reduce((n, r) => n + r.requests, 0)
      const perRequest = (ms: number, count: number): number => Math.round(ms * 1000 / Math.max(1, count))
      ctx.log(`CPU per request: bare server ${perRequest(cpu.bare, bareCount)} µs; idlemesh node 1 ${perRequest(cpu.node1, meshCount)} µs, each other node ${perRequest(cpu.peers, meshCount)} µs`)
      const rows: BenchRow[] = [
        { suite: SUITE, name: `ingest req/s, ${plan.connections} connections, 1 KiB signed`, value: Math.round(m.rps), unit: 'req/s', baseline: { name: 'bare node:http', value: Math.round(b.rps), unit: 'req/s' }, ratio: round(m.rps / b.rps), target: '>= 50 % of bare', pass: m.rps >= b.rps / 2 && m.failed === 0, ...(m.failed === 0 ? {} : { note: `${m.failed} requests failed or were not 202` }) },
        { suite: SUITE, name: 'ingest latency p50', value: round(m.p50), unit: 'ms', baseline: { name: 'bare node:http p50', value: round(b.p50), unit: 'ms' }, ratio: round(m.p50 / b.p50) },
        { suite: SUITE, name: 'ingest latency p99', value: round(m.p99), unit: 'ms', baseline: { name: 'bare node:http p99', value: round(b.p99), unit: 'ms' }, ratio: round(m.p99 / b.p99), target: '<= 2x bare', pass: m.p99 <= 2 * b.p99 },
        { suite: SUITE, name: 'CPU per delivery, receiving node', value: perRequest(cpu.node1, meshCount), unit: 'µs', baseline: { name: 'bare node:http', value: perRequest(cpu.bare, bareCount), unit: 'µs' }, ratio: round(perRequest(cpu.node1, meshCount) / Math.max(1, perRequest(cpu.bare, bareCount))), note: 'verify, parse, route, synced write, gossip to 2 peers, HTTP answer' },
        { suite: SUITE, name: 'CPU per delivery, each other node', value: perRequest(cpu.peers, meshCount), unit: 'µs', note: 'receive, verify and merge the gossiped event (all 3 nodes and the load generator share the same 2 cores)' }
      ]

      // The same comparison at a steady, moderate rate: latency as senders usually see it.
      const pacedBare = await paced(bare.url, plan.pacedRate, plan.pacedMs)
      const pacedMesh = await paced(urls[0], plan.pacedRate, plan.pacedMs)
      const pb = figures([pacedBare])
      const pm = figures([pacedMesh])
      ctx.log(`paced ${plan.pacedRate}/s: bare p50 ${round2(pb.p50)} p99 ${round2(pb.p99)} ms; idlemesh p50 ${round2(pm.p50)} p99 ${round2(pm.p99)} ms, failed ${pm.failed}`)
      rows.push(
        { suite: SUITE, name: `latency p50 at ${plan.pacedRate} req/s`, value: round(pm.p50), unit: 'ms', baseline: { name: 'bare node:http p50', value: round(pb.p50), unit: 'ms' }, ratio: round(pm.p50 / pb.p50) },
        { suite: SUITE, name: `latency p99 at ${plan.pacedRate} req/s`, value: round(pm.p99), unit: 'ms', baseline: { name: 'bare node:http p99', value: round(pb.p99), unit: 'ms' }, ratio: round(pm.p99 / pb.p99), note: 'includes the synced LevelDB write before every 202' }
      )
      rows.push(...await spread(ctx, urls, plan.spreadSamples))
      return rows
    } finally {
      await bare.stop()
      await cluster.destroy()
    }
  }
}

function round2 (n: number): number {
  return Math.round(n * 100) / 100
}

