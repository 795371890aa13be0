import type { Logger } from '../logger.ts'
import { Cron } from 'croner'
import { cronEvent, dueFires, type CronJob, type RouteInput } from '../webhooks/index.ts'
import { eventKey } from './record.ts'
import type { EventStore } from './store.ts'

export interface CronSchedulerComponents {
  peerId: string
  store: Pick<EventStore, 'has' | 'keys' | 'onChange'>
  /** Whether this node may act yet, and who owns a key now (see Dispatcher). */
  ready: () => boolean
  ownerOf: (key: string) => string | undefined
  /** Puts a fire through the event pipeline (stored, gossiped, routed). */
  enqueue: (input: RouteInput) => Promise<unknown>
  logger: Logger
  now?: () => number
}

export interface CronSchedulerInit {
  jobs: readonly CronJob[]
  /** How often due fires are looked for, ms. */
  tickMs: number
}

export interface CronJobStatus {
  name: string
  schedule: string
  timezone: string
  catchUp: boolean
  /** The latest fire this node knows of (fired by any node), ISO time. */
  lastFire: string | null
  nextFire: string | null
  /** Fires this node enqueued since it started. */
  firedHere: number
}

const FIRE_PREFIX = `${eventKey('cron', 'cron:')}`

/**
 * Fires each cron job exactly once per mesh per scheduled time. Every node computes the same due
 * times (dueFires); a time's event id is fireId(job, time), so its key is the same everywhere,
 * and only the member that owns that key (the same rendezvous ranking that picks who runs an
 * event's actions) enqueues it. If the owner is dead, the ranking moves to the next member, which
 * fires it within the job's grace window; if two nodes fire the same time anyway, the event-id
 * dedupe keeps one event and one set of actions.
 */
export class CronScheduler {
  private readonly c: CronSchedulerComponents
  private readonly init: CronSchedulerInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly lastFire = new Map<string, number>()
  private readonly firedHere = new Map<string, number>()
  private readonly firing = new Set<string>()
  private timer?: NodeJS.Timeout
  private unsubscribe?: () => void

  constructor (components: CronSchedulerComponents, init: CronSchedulerInit) {
    this.c = components
    this.init = init
    this.log = components.logger.child({ module: 'cron' })
    this.now = components.now ?? Date.now
  }

  start (): void {
    if (this.init.jobs.length === 0 || this.timer !== undefined) return
    for (const key of this.c.store.keys()) this.noteFire(key)
    this.unsubscribe = this.c.store.onChange((key, outcome) => { if (outcome === 'added') this.noteFire(key) })
    this.timer = setInterval(() => { this.tick() }, this.init.tickMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.unsubscribe?.()
  }

  status (): CronJobStatus[] {
    const now = this.now()
    return this.init.jobs.map(job => {
      const last = this.lastFire.get(job.name)
      const next = new Cron(job.schedule, { paused: true, timezone: job.timezone ?? 'UTC' }).nextRun(new Date(now))?.getTime()
      return {
        name: job.name,
        schedule: job.schedule,
        timezone: job.timezone ?? 'UTC',
        catchUp: job.catchUp,
        lastFire: last === undefined ? null : new Date(last).toISOString(),
        nextFire: next === undefined ? null : new Date(next).toISOString(),
        firedHere: this.firedHere.get(job.name) ?? 0
      }
    })
  }

  /** Looks for due fires now; exposed for tests. */
  tick (): void {
    if (!this.c.ready()) return
    const now = this.now()
    for (const job of this.init.jobs) {
      const graceStart = now - job.graceMs
      const last = this.lastFire.get(job.name)
      // With catchUp, everything after the latest fire the mesh made; either way, every time
      // within the grace window that has no event yet (its owner may have died before firing).
      const from = job.catchUp && last !== undefined ? Math.min(last, graceStart) : graceStart
      for (const time of dueFires(job, from, now)) {
        const input = cronEvent(job, time)
        const key = eventKey('cron', input.id)
        if (this.c.store.has(key) || this.firing.has(key) || this.c.ownerOf(key) !== this.c.peerId) continue
        this.firing.add(key)
        this.firedHere.set(job.name, (this.firedHere.get(job.name) ?? 0) + 1)
        this.log.info({ job: job.name, scheduled: new Date(time).toISOString(), lateMs: now - time }, 'cron job fired')
        void this.c.enqueue(input).catch((err: Error) => {
          this.log.warn({ job: job.name, err: err.message }, 'cron fire could not be stored; the next tick retries')
        }).finally(() => { this.firing.delete(key) })
      }
    }
  }

  private noteFire (key: string): void {
    if (!key.startsWith(FIRE_PREFIX)) return
    // cron:<job>:<ISO time>; job names never contain ':'.
    const rest = key.slice(FIRE_PREFIX.length)
    const cut = rest.indexOf(':')
    const job = rest.slice(0, cut)
    const time = Date.parse(rest.slice(cut + 1))
    if (Number.isNaN(time)) return
    if (time > (this.lastFire.get(job) ?? -Infinity)) this.lastFire.set(job, time)
  }
}
