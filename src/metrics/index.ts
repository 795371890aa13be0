import { Registry, Gauge, Counter, collectDefaultMetrics } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import type { Health } from '../health/index.ts'

export interface Metrics {
  registry: Registry
  /** A counter other modules increment, e.g. rejected inputs by reason. */
  counter: (name: string, help: string, labelNames?: string[]) => Counter
  routes: (app: FastifyInstance) => void
}

/**
 * Prometheus figures for the same things /health reports. Gauges read the health report when
 * scraped, so they are never stale and cost nothing between scrapes.
 */
export function createMetrics (components: { health: Health }): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'idlemesh_process_' })
  // One report serves every gauge of a scrape: collect() runs once per gauge, the report once.
  let pending: ReturnType<Health['report']> | undefined
  const snapshot = async (): ReturnType<Health['report']> => {
    pending ??= components.health.report().finally(() => { setImmediate(() => { pending = undefined }) })
    return await pending
  }

  new Gauge({
    name: 'idlemesh_members',
    help: 'Mesh members known to this node, by state',
    labelNames: ['state'],
    registers: [registry],
    async collect () {
      const { summary } = (await snapshot())
      for (const state of ['alive', 'suspect', 'dead', 'left'] as const) this.set({ state }, summary[state])
    }
  })
  new Gauge({
    name: 'idlemesh_member_rtt_seconds',
    help: 'Round-trip time to directly connected members',
    labelNames: ['peer'],
    registers: [registry],
    async collect () {
      this.reset()
      for (const m of (await snapshot()).members) if (m.rttMs !== undefined) this.set({ peer: m.peerId }, m.rttMs / 1000)
    }
  })
  new Gauge({
    name: 'idlemesh_member_running_tasks',
    help: 'Tasks running on each member, from its load report',
    labelNames: ['peer'],
    registers: [registry],
    async collect () {
      this.reset()
      for (const m of (await snapshot()).members) if (m.load !== undefined) this.set({ peer: m.peerId }, m.load.running)
    }
  })
  new Gauge({ name: 'idlemesh_connections', help: 'Open libp2p connections', registers: [registry], async collect () { this.set((await snapshot()).connections.length) } })
  new Gauge({
    name: 'idlemesh_connected_peers',
    help: 'Distinct peers with an open connection (two nodes dialling each other at once may hold two connections)',
    registers: [registry],
    async collect () { this.set(new Set((await snapshot()).connections.map(c => c.peerId)).size) }
  })
  new Gauge({ name: 'idlemesh_dht_routing_table_size', help: 'Peers in the kad-dht routing table', registers: [registry], async collect () { this.set((await snapshot()).dht.routingTableSize) } })
  new Gauge({ name: 'idlemesh_uptime_seconds', help: 'Seconds since this node started', registers: [registry], async collect () { this.set((await snapshot()).node.uptimeMs / 1000) } })
  new Gauge({
    name: 'idlemesh_membership_messages',
    help: 'Membership messages: heartbeats received, rejected, death notices sent and applied',
    labelNames: ['kind'],
    registers: [registry],
    async collect () {
      const c = (await snapshot()).counters.membership
      this.set({ kind: 'heartbeats_received' }, c.heartbeatsReceived)
      this.set({ kind: 'rejected' }, c.rejectedMessages)
      this.set({ kind: 'death_notices_sent' }, c.deathNoticesSent)
      this.set({ kind: 'death_notices_applied' }, c.deathNoticesApplied)
    }
  })

  const counters = new Map<string, Counter>()
  return {
    registry,
    counter (name, help, labelNames = []) {
      let c = counters.get(name)
      if (c === undefined) {
        c = new Counter({ name, help, labelNames, registers: [registry] })
        counters.set(name, c)
      }
      return c
    },
    routes (app) {
      app.get('/metrics', async (_request, reply) => {
        const text = await registry.metrics()
        return await reply.type(registry.contentType).send(text)
      })
    }
  }
}
