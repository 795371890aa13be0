import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { initDataDir } from '../../../src/identity/index.ts'
import { NODE_V8_FLAGS } from '../../lib/cluster.ts'
import type { AgentCommand, AgentEvent } from './node-agent.ts'

const AGENT = join(import.meta.dirname, 'node-agent.ts')

export interface Agent {
  index: number
  dataDir: string
  peerId: string
  addrs: string[]
  readyAt: number
  child: ChildProcess
}

/**
 * Node processes for benchmarks that need timestamps from inside the nodes (see node-agent.ts).
 * Agent 0 starts first; the others bootstrap to it.
 */
export class AgentCluster {
  readonly agents: Agent[] = []
  private readonly listeners = new Set<(index: number, event: AgentEvent) => void>()
  private nextId = 1
  private readonly dir: string
  private readonly config: Record<string, unknown>

  constructor (dir: string, config: Record<string, unknown> = {}) {
    this.dir = dir
    this.config = config
  }

  async start (size: number): Promise<void> {
    for (let i = 0; i < size; i++) {
      const dataDir = join(this.dir, `agent${i}`)
      await initDataDir(dataDir, i === 0 ? {} : { meshSecretFile: join(this.dir, 'agent0', 'mesh.secret') })
      await this.spawnAgent(i, dataDir)
    }
  }

  async spawnAgent (index: number, dataDir: string): Promise<Agent> {
    const bootstrap = index === 0 || this.agents[0] === undefined ? [] : [this.agents[0].addrs[0] as string]
    const config = { listen: ['/ip4/127.0.0.1/tcp/0'], http: { listen: '127.0.0.1:0' }, log: { level: 'silent' }, bootstrap, ...this.config }
    // The V8 settings a real node runs with (bin/idlemesh.mjs), so the figures are a node's.
    const child = spawn(process.execPath, [...NODE_V8_FLAGS, AGENT, dataDir, JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.on('message', (event: AgentEvent) => { for (const l of this.listeners) l(index, event) })
    const ready = await new Promise<Extract<AgentEvent, { ev: 'ready' }>>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`agent ${index} did not start in 30 s`)) }, 30_000)
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`agent ${index} exited with ${String(code)} during start`)) })
      child.on('message', (event: AgentEvent) => {
        if (event.ev === 'ready') { clearTimeout(timer); resolve(event) }
        if (event.ev === 'error') { clearTimeout(timer); reject(new Error(event.message)) }
      })
    })
    const agent = { index, dataDir, peerId: ready.peerId, addrs: ready.addrs, readyAt: ready.at, child }
    this.agents[index] = agent
    return agent
  }

  send (index: number, command: AgentCommand): void {
    this.agents[index]?.child.send(command)
  }

  on (listener: (index: number, event: AgentEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Sends a command that carries an id and waits for the event answering it. */
  async request<E extends AgentEvent> (index: number, build: (id: number) => AgentCommand, match: (event: AgentEvent, id: number) => event is E, timeoutMs = 120_000): Promise<E> {
    const id = this.nextId++
    return await new Promise<E>((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error(`agent ${index}: no answer in ${timeoutMs} ms`)) }, timeoutMs)
      const off = this.on((from, event) => {
        if (event.ev === 'error' && from === index) { clearTimeout(timer); off(); reject(new Error(`agent ${index}: ${event.message}`)) }
        if (from === index && match(event, id)) { clearTimeout(timer); off(); resolve(event) }
      })
      this.send(index, build(id))
    })
  }

  async stopAgent (index: number): Promise<void> {
    const agent = this.agents[index]
    if (agent === undefined || agent.child.exitCode !== null) return
    const exited = new Promise(resolve => agent.child.once('exit', resolve))
    this.send(index, { cmd: 'stop' })
    const timer = setTimeout(() => { agent.child.kill('SIGKILL') }, 10_000)
    await exited
    clearTimeout(timer)
  }

  async stop (): Promise<void> {
    await Promise.all(this.agents.map(async (_, i) => { await this.stopAgent(i) }))
  }
}

export function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] ?? NaN
}
