import { Cron } from 'croner'
import type { CronJob } from './config.ts'
import type { RouteInput } from './routing.ts'

/**
 * Most fire times one call returns, oldest first, so a long outage under `catchUp` on a
 * per-second schedule cannot flood the mesh; the caller continues from the last one returned.
 */
export const MAX_FIRES = 1000

/**
 * The scheduled times (ms since the epoch, ascending) of `job` in `(fromMs, toMs]`, where
 * `fromMs` is the end of the window the mesh already handled and `toMs` is now.
 *
 * Every node computes the same times for the same window, and each time has one `fireId`: the
 * mesh fires a time exactly once by deduplicating on that id, whichever nodes ask and however
 * often. Windows may therefore overlap; none may leave a gap.
 *
 * With `catchUp: false` (the default), fires missed while the whole mesh was down are not
 * replayed: only times within `graceMs` of now count, i.e. the window starts no earlier than
 * `toMs - graceMs`. The grace covers a tick that runs late or a node that takes over just after
 * another stopped. With `catchUp: true` every missed time is returned (up to MAX_FIRES).
 *
 * Schedules are read in `job.timezone`, or UTC, never in the node's local zone, so nodes in
 * different zones agree. Across a DST change croner's rules apply: a fixed-time job (`30 2 * * *`)
 * in the skipped hour fires when the clock jumps, and once in a repeated hour.
 */
export function dueFires (job: CronJob, fromMs: number, toMs: number): number[] {
  const startMs = job.catchUp ? fromMs : Math.max(fromMs, toMs - job.graceMs)
  const cron = new Cron(job.schedule, { paused: true, timezone: job.timezone ?? 'UTC' })
  const fires: number[] = []
  let next = cron.nextRun(new Date(startMs))
  while (next !== null && next.getTime() <= toMs && fires.length < MAX_FIRES) {
    fires.push(next.getTime())
    next = cron.nextRun(next)
  }
  return fires
}

/** The event id of a fire, the same on every node: `cron:<job>:<ISO time in UTC>`. */
export function fireId (job: Pick<CronJob, 'name'>, scheduledMs: number): string {
  return `cron:${job.name}:${new Date(scheduledMs).toISOString()}`
}

/** The event a fire puts through the webhook pipeline: source `cron`, provider `cron`. */
export function cronEvent (job: CronJob, scheduledMs: number): RouteInput {
  const id = fireId(job, scheduledMs)
  return {
    source: 'cron',
    id,
    event: { provider: 'cron', type: job.event.type, deliveryId: id, summary: `cron job ${job.name} scheduled at ${new Date(scheduledMs).toISOString()}` },
    payload: job.event.payload
  }
}
