import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import type { CostReport, TaskView } from '../../src/tasks/index.ts'
import { api, startTaskMesh, waitForStatus } from './helpers.ts'
import { useTestFixture } from '../helpers/fixture.ts'

const COST = 0.0123 // what the fake CLI reports per run

describe('HTTP, CLI and cost', () => {
  const fixture = useTestFixture()

  it('cost totals add up per task, node, repository and conversation; the CLI shows them', async () => {
    const mesh = await startTaskMesh(fixture.dirs, 2, () => ({ maxAttempts: 2 }))
    fixture.nodes = mesh.nodes
    const [a, b] = fixture.nodes as [IdlemeshNode, IdlemeshNode]
    const submit = async (node: IdlemeshNode, body: Record<string, unknown>): Promise<void> => {
      const { status } = await api(node.httpUrl, 'POST', '/tasks', body)
      expect(status).toBe(202)
    }
    await submit(a, { id: 'k1', prompt: 'one', repo: 'https://github.com/acme/alpha.git' })
    await submit(b, { id: 'k2', prompt: 'two', repo: 'https://github.com/acme/alpha.git', conversation: 'chat-1' })
    await waitForStatus(a, 'k2', ['succeeded'])
    await submit(a, { id: 'k3', prompt: 'three', conversation: 'chat-1' })
    await submit(b, { id: 'k4', prompt: 'error boom' })
    const finals: TaskView[] = []
    for (const id of ['k1', 'k2', 'k3', 'k4']) finals.push(await waitForStatus(a, id, ['succeeded', 'dead', 'failed']))
    expect(finals.map(t => t.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'dead'])
    expect(finals.map(t => t.costUsd)).toEqual([COST, COST, COST, 2 * COST])
    // Both nodes end up with the same figures.
    await waitFor(() => b.tasks.get('k4')?.status === 'dead', { what: 'node b to see k4 dead' })
    for (const node of fixture.nodes) {
      const byNode = node.tasks.cost('node')
      expect(byNode.totalUsd).toBeCloseTo(5 * COST, 6)
      expect(byNode.attempts).toBe(5)
      expect(byNode.tasks).toBe(4)
      expect(byNode.rows.reduce((s, r) => s + r.costUsd, 0)).toBeCloseTo(byNode.totalUsd, 6)
      const attemptsByNode = new Map<string, number>()
      for (const t of finals) for (const at of t.attempts) attemptsByNode.set(at.node, (attemptsByNode.get(at.node) ?? 0) + 1)
      for (const row of byNode.rows) expect(row.attempts).toBe(attemptsByNode.get(row.key))
    }
    const byRepo = Object.fromEntries(a.tasks.cost('repo').rows.map(r => [r.key, r.costUsd]))
    expect(byRepo['acme/alpha']).toBeCloseTo(2 * COST, 6)
    expect(byRepo['(none)']).toBeCloseTo(3 * COST, 6)
    const byConversation = Object.fromEntries(a.tasks.cost('conversation').rows.map(r => [r.key, r.costUsd]))
    expect(byConversation['chat-1']).toBeCloseTo(2 * COST, 6)
    expect(byConversation['(none)']).toBeCloseTo(3 * COST, 6)

    const cli = await runCli(['cost', '--by', 'repo', '--node', a.httpUrl, '--json'])
    expect(cli.code, cli.stderr).toBe(0)
    const report = JSON.parse(cli.stdout) as CostReport
    expect(report.totalUsd).toBeCloseTo(5 * COST, 6)
    const table = await runCli(['cost', '--by', 'conversation', '--node', a.httpUrl])
    expect(table.stdout).toMatch(/^total \$0\.0615 over 4 tasks \(5 attempts\)/)
    expect(table.stdout).toMatch(/chat-1\s+2\s+2\s+\$0\.0246/)
    const future = await api<CostReport>(a.httpUrl, 'GET', `/cost?since=${Date.now() + 60_000}`)
    expect(future.body.totalUsd).toBe(0)
    expect((await api(a.httpUrl, 'GET', '/cost?by=planet')).status).toBe(400)
  })

  it('the CLI submits, lists, shows, follows logs, cancels and drains', async () => {
    const mesh = await startTaskMesh(fixture.dirs, 2, i => ({ capacity: i === 0 ? 1 : 1 }))
    fixture.nodes = mesh.nodes
    const [a, b] = fixture.nodes as [IdlemeshNode, IdlemeshNode]
    const submitted = await runCli(['task', 'submit', '--prompt', 'hello from the cli', '--id', 'cli-1', '--wait', '--json', '--node', a.httpUrl])
    expect(submitted.code, submitted.stderr).toBe(0)
    const task = JSON.parse(submitted.stdout) as TaskView
    expect(task.status).toBe('succeeded')
    expect(task.result).toBe('echo: hello from the cli')

    const show = await runCli(['task', 'show', 'cli-1', '--node', b.httpUrl])
    expect(show.stdout).toMatch(/^task cli-1: succeeded/)
    expect(show.stdout).toContain('echo: hello from the cli')
    const list = await runCli(['tasks', '--status', 'succeeded', '--node', b.httpUrl])
    expect(list.stdout).toMatch(/cli-1\s+succeeded/)
    const logs = await runCli(['task', 'logs', 'cli-1', '--node', b.httpUrl])
    expect(logs.code, logs.stderr).toBe(0)
    expect(logs.stdout).toContain('assistant: working on it')
    expect(logs.stdout).toContain('result (success): echo: hello from the cli')

    // Follow a slow run from the node that does not run it, then cancel it from the CLI.
    await api(a.httpUrl, 'POST', '/tasks', { id: 'cli-2', prompt: 'hang here' })
    const running = await waitForStatus(a, 'cli-2', ['running'])
    const other = running.node === a.peerId ? b : a
    const follow = runCli(['task', 'logs', 'cli-2', '--follow', '--raw', '--node', other.httpUrl], {}, 30_000)
    await waitFor(() => a.tasks.get('cli-2')?.attempts[0]?.startedAt !== undefined, { what: 'the run to start' })
    const cancel = await runCli(['task', 'cancel', 'cli-2', '--reason', 'enough', '--node', other.httpUrl])
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout).toBe('cancelled: cli-2\n')
    const followed = await follow
    expect(followed.code, followed.stderr).toBe(0)
    expect(followed.stdout).toContain('"subtype":"init"')

    const missing = await runCli(['task', 'show', 'nope', '--node', a.httpUrl])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^idlemesh: no task nope/)
    const empty = await runCli(['task', 'submit', '--node', a.httpUrl])
    expect(empty.code).toBe(1)
    expect(empty.stderr).toMatch(/^idlemesh: give the prompt/)

    const drain = await runCli(['drain', '--wait', '--node', b.httpUrl])
    expect(drain.stdout).toMatch(/^draining: no new tasks; 0 running/)
    await waitFor(async () => (await a.health.report()).members.find(m => m.peerId === b.peerId)?.load?.draining === true, { what: 'node a to see b draining' })
    const health = await b.health.report() as unknown as { tasks: { draining: boolean, capacity: number } }
    expect(health.tasks).toMatchObject({ draining: true, capacity: 1 })
    await api(a.httpUrl, 'POST', '/tasks', { id: 'cli-3', prompt: 'where do I go' })
    expect((await waitForStatus(a, 'cli-3', ['succeeded'])).node).toBe(a.peerId)
    const undrain = await runCli(['drain', '--off', '--node', b.httpUrl])
    expect(undrain.stdout).toBe('taking tasks again (capacity 1)\n')
    const metrics = await (await fetch(`${a.httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/idlemesh_tasks\{status="succeeded"\} 2/)
  })

  it('refuses new tasks once the day\'s budget is spent, with a clear reason', async () => {
    const mesh = await startTaskMesh(fixture.dirs, 1, () => ({ budget: { dailyUsd: 0.03 } }))
    fixture.nodes = mesh.nodes
    const node = fixture.nodes[0] as IdlemeshNode
    for (const id of ['b1', 'b2', 'b3']) {
      await node.tasks.submit({ id, prompt: id })
      await waitForStatus(node, id, ['succeeded'])
    }
    const refused = await api<{ error: { code: string, message: string } }>(node.httpUrl, 'POST', '/tasks', { id: 'b4', prompt: 'b4' })
    expect(refused.status).toBe(429)
    expect(refused.body.error.code).toBe('TASK_BUDGET_SPENT')
    expect(refused.body.error.message).toMatch(/today's task budget of \$0\.03 is spent \(\$0\.0369/)
    const cli = await runCli(['task', 'submit', '--prompt', 'more', '--node', node.httpUrl])
    expect(cli.code).toBe(1)
    expect(cli.stderr).toMatch(/^idlemesh: today's task budget/)
  })
})
