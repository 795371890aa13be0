import { Gauge, type Registry } from 'prom-client'
import type { EventService } from './service.ts'

/**
 * Prometheus figures for events and webhooks, read from the service when scraped (the same
 * numbers /health reports). Monotonic counts are exposed as gauges that read the service's
 * counters, so nothing is counted twice.
 */
export function registerEventMetrics (registry: Registry, events: Pick<EventService, 'health' | 'webhooksHealth'>): void {
  new Gauge({
    name: 'idlemesh_events_stored',
    help: 'Events held by this node (within the dedupe retention)',
    registers: [registry],
    collect () { this.set(events.health().stored) }
  })
  new Gauge({
    name: 'idlemesh_events_queue_depth',
    help: 'Event queues: open events, running and waiting actions, gossip and sync backlogs',
    labelNames: ['queue'],
    registers: [registry],
    collect () {
      for (const [queue, value] of Object.entries(events.health().queues)) this.set({ queue }, value)
    }
  })
  new Gauge({
    name: 'idlemesh_event_actions_finished',
    help: 'Actions this node finished since it started, by outcome (and claims lost, takeovers)',
    labelNames: ['outcome'],
    registers: [registry],
    collect () {
      for (const [outcome, value] of Object.entries(events.health().actions)) this.set({ outcome }, value)
    }
  })
  new Gauge({
    name: 'idlemesh_webhooks_requests',
    help: 'Webhook requests since start: accepted (202) and duplicates (200)',
    labelNames: ['outcome'],
    registers: [registry],
    collect () {
      const w = events.webhooksHealth()
      this.set({ outcome: 'accepted' }, w.accepted)
      this.set({ outcome: 'duplicate' }, w.duplicates)
    }
  })
  new Gauge({
    name: 'idlemesh_webhooks_rejected',
    help: 'Webhook requests refused since start, by error code (nothing of them was stored)',
    labelNames: ['code'],
    registers: [registry],
    collect () {
      for (const [code, value] of Object.entries(events.webhooksHealth().rejected)) this.set({ code }, value)
    }
  })
  new Gauge({
    name: 'idlemesh_events_gossip_rejected',
    help: 'Event messages from peers rejected as invalid, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect () {
      for (const [reason, value] of Object.entries(events.health().replication.rejected)) this.set({ reason }, value)
    }
  })
}
