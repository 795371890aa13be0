/**
 * `npm run demo`: a three-node mesh on this machine, end to end. Each step prints one progress
 * line; the first step that fails ends the demo with one line on stderr and exit code 1, and the
 * nodes and their temporary data dirs are removed whatever happens.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { HealthReport } from '../src/health/index.ts'
import { renderHealth } from '../src/cli/health.ts'
import { shortPeerId } from '../src/cli/format.ts'
import { Cluster } from './lib/cluster.ts'

const NODES = 3
/** How long the mesh may take to form, all nodes seeing each other alive: 30 s. */
const MESH_TIMEOUT_MS = 30_000

interface DemoContext {
  cluster?: Cluster
  /** /health of every node once the mesh formed, by node index. */
  reports?: HealthReport[]
}

interface StepResult {
  /** Appended to the step's progress line. */
  detail?: string
  /** Printed below the progress line (e.g. a table). */
  output?: string
}

interface Step {
  title: string
  run: (ctx: DemoContext) => Promise<StepResult | undefined>
}

function clusterOf (ctx: DemoContext): Cluster {
  if (ctx.cluster === undefined) throw new Error('no cluster: an earlier step did not create it')
  return ctx.cluster
}

const steps: Step[] = [
  {
    title: `create ${NODES} data dirs sharing one mesh secret (idlemesh init)`,
    async run (ctx) {
      ctx.cluster = await Cluster.create({ size: NODES })
      return { detail: ctx.cluster.nodes.map(n => `node ${n.index + 1} ${shortPeerId(n.peerId)}`).join(', ') }
    }
  },
  {
    title: 'start node 1, then nodes 2 and 3 bootstrapping to it (127.0.0.1, port 0)',
    async run (ctx) {
      const cluster = clusterOf(ctx)
      await cluster.start()
      return { detail: cluster.nodes.map(n => `node ${n.index + 1} ${n.runtime?.httpUrl ?? '?'}`).join(', ') }
    }
  },
  {
    title: 'wait until every node sees the other two alive',
    async run (ctx) {
      ctx.reports = await clusterOf(ctx).waitAllAlive(MESH_TIMEOUT_MS)
      return undefined
    }
  },
  {
    title: 'health of node 1',
    async run (ctx) {
      // Asked again rather than reused, so the table shows RTTs and load as they are now.
      const report = await clusterOf(ctx).health(0)
      return { output: renderHealth(report) }
    }
  },
  {
    title: 'post a checkpoint on node 1 (replicas=2), read the latest from node 3',
    async run (ctx) {
      const cluster = clusterOf(ctx)
      const url = (i: number): string => cluster.nodes[i]?.runtime?.httpUrl ?? ''
      const payload = `resume here: demo handoff written at ${new Date().toISOString()}`
      const posted = await fetch(`${url(0)}/checkpoints?stream=demo&replicas=2`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'x-checkpoint-label': 'demo' },
        body: payload
      })
      const created = await posted.json() as { id?: string, seq?: number, confirmedBy?: string[], error?: { message: string } }
      if (posted.status !== 201) throw new Error(`POST /checkpoints on node 1: HTTP ${posted.status} ${created.error?.message ?? ''}`)
      const latest = await fetch(`${url(2)}/checkpoints/latest?stream=demo`)
      const body = await latest.text()
      if (latest.status !== 200) throw new Error(`GET /checkpoints/latest on node 3: HTTP ${latest.status} ${body}`)
      const id = latest.headers.get('x-checkpoint-id')
      if (id !== created.id || body !== payload) throw new Error(`node 3 answered ${String(id)} "${body}", expected ${String(created.id)} "${payload}"`)
      return {
        detail: `${created.id ?? ''} seq ${created.seq ?? '?'}, stored on ${(created.confirmedBy?.length ?? 0) + 1} nodes before the answer; node 3 read it back (confirmed by peers: ${latest.headers.get('x-checkpoint-confirmed') ?? '?'})`,
        output: `node 3 says: ${body}`
      }
    }
  },
  {
    title: 'stop every node with SIGTERM',
    async run (ctx) {
      const cluster = clusterOf(ctx)
      const statuses = await Promise.all(cluster.nodes.map(async n => await cluster.stop(n.index)))
      statuses.forEach((status, i) => {
        if (status?.code !== 0) throw new Error(`node ${i + 1} did not stop cleanly: exit code ${String(status?.code)}, signal ${String(status?.signal)}`)
      })
      const leftover = cluster.nodes.filter(n => existsSync(join(n.dataDir, 'runtime.json')))
      if (leftover.length > 0) throw new Error(`runtime.json still present after a clean stop for node(s) ${leftover.map(n => n.index + 1).join(', ')}`)
      return { detail: 'all exited with code 0' }
    }
  }
]

async function main (): Promise<number> {
  const ctx: DemoContext = {}
  const started = performance.now()
  process.stdout.write(`idlemesh demo: ${NODES} nodes on 127.0.0.1\n`)
  try {
    for (const [i, step] of steps.entries()) {
      const label = `[${i + 1}/${steps.length}] ${step.title}`
      process.stdout.write(`${label} ...\n`)
      const stepStarted = performance.now()
      let result: StepResult | undefined
      try {
        result = await step.run(ctx)
      } catch (err) {
        process.stderr.write(`demo failed at step ${i + 1} (${step.title}): ${(err as Error).message}\n`)
        return 1
      }
      const took = ((performance.now() - stepStarted) / 1000).toFixed(1)
      process.stdout.write(`      ok in ${took} s${result?.detail === undefined ? '' : `: ${result.detail}`}\n`)
      if (result?.output !== undefined) process.stdout.write(`\n${result.output}\n\n`)
    }
  } finally {
    await ctx.cluster?.destroy()
  }
  process.stdout.write(`demo ok in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  return 0
}

process.exitCode = await main()
