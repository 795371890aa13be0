import { Gauge, type Registry } from 'prom-client'
import type { TaskService } from './index.ts'

/**
 * Prometheus figures for tasks, read from the service when scraped (the numbers /health shows
 * in its `tasks` section).
 */
export function registerTaskMetrics (registry: Registry, tasks: Pick<TaskService, 'health'>): void {
  new Gauge({
    name: 'idlemesh_tasks_node',
    help: 'This node\'s task slots: running, capacity, queued (coordinated, waiting for room), draining (1/0)',
    labelNames: ['figure'],
    registers: [registry],
    collect () {
      const h = tasks.health()
      this.set({ figure: 'running' }, h.running)
      this.set({ figure: 'capacity' }, h.capacity)
      this.set({ figure: 'queued' }, h.queued)
      this.set({ figure: 'draining' }, h.draining ? 1 : 0)
      this.set({ figure: 'coordinating' }, h.coordinating)
    }
  })
  new Gauge({
    name: 'idlemesh_tasks',
    help: 'Task records this node holds, by status',
    labelNames: ['status'],
    registers: [registry],
    collect () {
      for (const [status, n] of Object.entries(tasks.health().byStatus)) this.set({ status }, n)
    }
  })
  new Gauge({
    name: 'idlemesh_tasks_spent_today_usd',
    help: 'Mesh-wide task cost since 00:00 UTC, as this node knows it',
    registers: [registry],
    collect () { this.set(tasks.health().spentTodayUsd) }
  })
  new Gauge({
    name: 'idlemesh_task_events',
    help: 'Task scheduling events on this node since start: offers, refusals by reason, leases lapsed or lost, takeovers, retries, dead letters',
    labelNames: ['event'],
    registers: [registry],
    collect () {
      const c = tasks.health().counters as { scheduler: Record<string, unknown>, executor: Record<string, unknown> }
      for (const [side, counters] of Object.entries({ scheduler: c.scheduler, executor: c.executor })) {
        for (const [name, value] of Object.entries(counters)) {
          if (typeof value === 'number') this.set({ event: `${side}.${name}` }, value)
          else if (typeof value === 'object' && value !== null) {
            for (const [reason, n] of Object.entries(value)) this.set({ event: `${side}.${name}.${reason}` }, n as number)
          }
        }
      }
    }
  })
}
