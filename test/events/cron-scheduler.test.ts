import { describe, expect, it } from 'vitest'
import { CronScheduler } from '../../src/events/cron-scheduler.ts'
import { silentLogger } from '../../src/logger.ts'
import type { z } from 'zod'
import { cronJobSchema, type RouteInput } from '../../src/webhooks/index.ts'

type CronJobInput = z.input<typeof cronJobSchema>

const SELF = 'self'
const START = Date.parse('2025-06-01T12:00:30Z')

/** A scheduler over an in-memory key set; it fires what `owner` says this node owns. */
function harness (job: Partial<CronJobInput>, options: { owner?: (key: string) => string, ready?: () => boolean } = {}) {
  let now = START
  const keys = new Set<string>()
  const listeners = new Set<(key: string, outcome: 'added') => void>()
  const fired: string[] = []
  const scheduler = new CronScheduler({
    peerId: SELF,
    store: {
      has: (key) => keys.has(key),
      keys: () => keys.values(),
      onChange: (listener) => { listeners.add(listener); return () => { listeners.delete(listener) } }
    },
    ready: options.ready ?? (() => true),
    ownerOf: options.owner ?? (() => SELF),
    enqueue: async (input: RouteInput) => {
      fired.push(input.id)
      const key = `cron/${input.id}`
      keys.add(key)
      for (const l of listeners) l(key, 'added')
    },
    logger: silentLogger(),
    now: () => now
  }, { jobs: [cronJobSchema.parse({ name: 'job', schedule: '* * * * *', event: { type: 'tick' }, ...job })], tickMs: 1000 })
  return {
    scheduler,
    fired,
    keys,
    /** Moves the clock and ticks. */
    async at (iso: string): Promise<void> {
      now = Date.parse(iso)
      scheduler.tick()
      await new Promise(resolve => setImmediate(resolve))
    }
  }
}

describe('cron scheduler', () => {
  it('fires each scheduled time once, whatever the number of ticks', async () => {
    const h = harness({})
    await h.at('2025-06-01T12:01:00.200Z')
    await h.at('2025-06-01T12:01:00.900Z')
    await h.at('2025-06-01T12:01:30Z')
    await h.at('2025-06-01T12:02:00.100Z')
    expect(h.fired).toEqual(['cron:job:2025-06-01T12:01:00.000Z', 'cron:job:2025-06-01T12:02:00.000Z'])
  })

  it('leaves a time to its owner, and fires it within the grace window once the owner is gone', async () => {
    let owner = 'other'
    const h = harness({ graceMs: 60_000 }, { owner: () => owner })
    await h.at('2025-06-01T12:01:00.100Z')
    expect(h.fired).toEqual([])
    owner = SELF // the other member died: the ranking moved to this node
    await h.at('2025-06-01T12:01:20Z')
    expect(h.fired).toEqual(['cron:job:2025-06-01T12:01:00.000Z'])
  })

  it('does not fire a time another node already fired', async () => {
    const h = harness({})
    h.keys.add('cron/cron:job:2025-06-01T12:01:00.000Z')
    await h.at('2025-06-01T12:01:00.500Z')
    expect(h.fired).toEqual([])
  })

  it('without catchUp, fires missed while the whole mesh was down are not replayed; with catchUp they are', async () => {
    const skip = harness({ graceMs: 60_000 })
    skip.keys.add('cron/cron:job:2025-06-01T12:00:00.000Z')
    skip.scheduler.start()
    await skip.at('2025-06-01T12:05:10Z')
    expect(skip.fired).toEqual(['cron:job:2025-06-01T12:05:00.000Z'])
    skip.scheduler.stop()

    const replay = harness({ graceMs: 60_000, catchUp: true })
    replay.keys.add('cron/cron:job:2025-06-01T12:00:00.000Z')
    replay.scheduler.start()
    await replay.at('2025-06-01T12:05:10Z')
    expect(replay.fired).toEqual(['01', '02', '03', '04', '05'].map(m => `cron:job:2025-06-01T12:${m}:00.000Z`))
    replay.scheduler.stop()
  })

  it('fires nothing before the node is ready', async () => {
    let ready = false
    const h = harness({}, { ready: () => ready })
    await h.at('2025-06-01T12:01:00.100Z')
    expect(h.fired).toEqual([])
    ready = true
    await h.at('2025-06-01T12:01:00.300Z')
    expect(h.fired).toHaveLength(1)
  })
})
