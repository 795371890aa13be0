import type { Mesh, ConnectionInfo } from '../mesh/index.ts'
import type { Membership, Member, MembershipCounters } from '../membership/index.ts'

export interface HealthReport {
  node: {
    peerId: string
    version: string
    startedAt: string
    uptimeMs: number
    multiaddrs: string[]
    httpUrl: string | null
  }
  summary: { members: number, alive: number, suspect: number, dead: number, left: number, allAlive: boolean }
  members: Array<Member & { lastHeardAgoMs: number | null }>
  connections: ConnectionInfo[]
  dht: { routingTableSize: number }
  counters: { membership: MembershipCounters } & Record<string, unknown>
  /** Sections other modules add (checkpoints, events, tasks). */
  [section: string]: unknown
}

export interface HealthComponents {
  mesh: Mesh
  membership: Membership
}

export interface HealthInit {
  version: string
  startedAt: number
  httpUrl: () => string | null
  /** Named sections contributed by other modules. */
  sections?: Record<string, () => unknown | Promise<unknown>>
  counters?: Record<string, () => unknown>
}

export interface Health {
  report: () => Promise<HealthReport>
}

export function createHealth (components: HealthComponents, init: HealthInit): Health {
  return {
    async report () {
      const now = Date.now()
      const members = components.membership.list().map(m => ({ ...m, lastHeardAgoMs: m.lastHeardAt === 0 ? null : Math.max(0, now - m.lastHeardAt) }))
      const count = (state: string): number => members.filter(m => m.state === state).length
      const report: HealthReport = {
        node: {
          peerId: components.mesh.peerId,
          version: init.version,
          startedAt: new Date(init.startedAt).toISOString(),
          uptimeMs: now - init.startedAt,
          multiaddrs: components.mesh.multiaddrs(),
          httpUrl: init.httpUrl()
        },
        summary: { members: members.length, alive: count('alive'), suspect: count('suspect'), dead: count('dead'), left: count('left'), allAlive: members.every(m => m.state === 'alive') },
        members,
        connections: components.mesh.connections(),
        dht: { routingTableSize: components.mesh.dhtRoutingTableSize() },
        counters: { membership: { ...components.membership.counters } }
      }
      for (const [name, counter] of Object.entries(init.counters ?? {})) report.counters[name] = counter()
      const sections = Object.entries(init.sections ?? {})
      const values = await Promise.all(sections.map(async ([, section]) => await section()))
      sections.forEach(([name], i) => { report[name] = values[i] })
      return report
    }
  }
}

export function healthRoutes (health: Health) {
  return (app: import('fastify').FastifyInstance): void => {
    app.get('/health', async () => await health.report())
  }
}
