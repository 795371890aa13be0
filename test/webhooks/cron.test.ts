import { afterEach, describe, it, expect } from 'vitest'
import { cronConfigSchema, cronJobSchema, createRouter, cronEvent, dueFires, fireId, MAX_FIRES, webhooksConfigSchema, type CronJob } from '../../src/webhooks/index.ts'

function job (fields: Record<string, unknown>): CronJob {
  return cronJobSchema.parse({ name: 'job', event: { type: 'tick' }, ...fields })
}

const at = (iso: string): number => Date.parse(iso)
const iso = (times: number[]): string[] => times.map(t => new Date(t).toISOString())

describe('dueFires', () => {
  it('returns every scheduled time in (from, to] with catchUp', () => {
    const every5 = job({ schedule: '*/5 * * * *', catchUp: true })
    expect(iso(dueFires(every5, at('2025-01-01T00:02:00Z'), at('2025-01-01T00:20:00Z')))).toEqual([
      '2025-01-01T00:05:00.000Z', '2025-01-01T00:10:00.000Z', '2025-01-01T00:15:00.000Z', '2025-01-01T00:20:00.000Z'
    ])
    // The start is exclusive and the end inclusive, so back-to-back windows never count a time twice.
    expect(iso(dueFires(every5, at('2025-01-01T00:05:00Z'), at('2025-01-01T00:10:00Z')))).toEqual(['2025-01-01T00:10:00.000Z'])
    expect(dueFires(every5, at('2025-01-01T00:10:00Z'), at('2025-01-01T00:14:59Z'))).toEqual([])
  })

  it('without catchUp, replays nothing missed while the mesh was down: only times within the grace', () => {
    const every5 = job({ schedule: '*/5 * * * *', graceMs: 60_000 })
    // Down from 00:02 to 00:20:30: 00:05, 00:10 and 00:15 are gone, 00:20 is 30 s late and still fires.
    expect(iso(dueFires(every5, at('2025-01-01T00:02:00Z'), at('2025-01-01T00:20:30Z')))).toEqual(['2025-01-01T00:20:00.000Z'])
    expect(dueFires(every5, at('2025-01-01T00:02:00Z'), at('2025-01-01T00:21:30Z'))).toEqual([])
    // A window shorter than the grace is used as it is.
    expect(dueFires(every5, at('2025-01-01T00:20:00Z'), at('2025-01-01T00:20:30Z'))).toEqual([])
  })

  it('reads the schedule in the job time zone', () => {
    const ny = job({ schedule: '0 9 * * *', timezone: 'America/New_York', catchUp: true })
    expect(iso(dueFires(ny, at('2025-01-01T00:00:00Z'), at('2025-01-03T00:00:00Z')))).toEqual(['2025-01-01T14:00:00.000Z', '2025-01-02T14:00:00.000Z'])
    const kolkata = job({ schedule: '0 9 * * *', timezone: 'Asia/Kolkata', catchUp: true })
    expect(iso(dueFires(kolkata, at('2025-01-01T00:00:00Z'), at('2025-01-02T00:00:00Z')))).toEqual(['2025-01-01T03:30:00.000Z'])
  })

  it('follows daylight saving time in the job zone', () => {
    const berlin = job({ schedule: '0 9 * * *', timezone: 'Europe/Berlin', catchUp: true })
    // CET (UTC+1) until 2025-03-30, CEST (UTC+2) from then.
    expect(iso(dueFires(berlin, at('2025-03-29T00:00:00Z'), at('2025-03-31T00:00:00Z')))).toEqual(['2025-03-29T08:00:00.000Z', '2025-03-30T07:00:00.000Z'])
    // 02:30 does not exist on 2025-03-30: a fixed-time job fires once, when the clock jumps to 03:00.
    const night = job({ schedule: '30 2 * * *', timezone: 'Europe/Berlin', catchUp: true })
    expect(iso(dueFires(night, at('2025-03-29T12:00:00Z'), at('2025-03-31T12:00:00Z')))).toEqual(['2025-03-30T01:00:00.000Z', '2025-03-31T00:30:00.000Z'])
  })

  describe('without a time zone', () => {
    const original = process.env.TZ
    afterEach(() => {
      if (original === undefined) delete process.env.TZ
      else process.env.TZ = original
    })

    it('reads the schedule in UTC whatever the node local zone, so all nodes agree', () => {
      process.env.TZ = 'Asia/Tokyo'
      const daily = job({ schedule: '0 9 * * *', catchUp: true })
      expect(iso(dueFires(daily, at('2025-01-01T00:00:00Z'), at('2025-01-02T00:00:00Z')))).toEqual(['2025-01-01T09:00:00.000Z'])
    })
  })

  it('returns at most MAX_FIRES, oldest first, so a caller can continue from the last', () => {
    const everySecond = job({ schedule: '* * * * * *', catchUp: true })
    const from = at('2025-01-01T00:00:00Z')
    const fires = dueFires(everySecond, from, from + 3 * 3_600_000)
    expect(fires).toHaveLength(MAX_FIRES)
    expect(fires[0]).toBe(from + 1000)
    const rest = dueFires(everySecond, fires[fires.length - 1] ?? 0, from + 3 * 3_600_000)
    expect(rest[0]).toBe(from + (MAX_FIRES + 1) * 1000)
  })
})

describe('fireId and cronEvent', () => {
  it('names a fire by job and UTC time, the same on every node', () => {
    const daily = job({ name: 'nightly-report', schedule: '0 2 * * *', timezone: 'Europe/Berlin' })
    const [fire] = dueFires({ ...daily, catchUp: true }, at('2025-01-01T00:00:00Z'), at('2025-01-02T00:00:00Z'))
    expect(fireId(daily, fire ?? 0)).toBe('cron:nightly-report:2025-01-01T01:00:00.000Z')
    expect(fireId(daily, fire ?? 0)).toBe(fireId({ name: 'nightly-report' }, at('2025-01-01T01:00:00Z')))
  })

  it('makes an event that routes through the same rules, with provider cron', () => {
    const report = job({ name: 'report', schedule: '0 * * * *', event: { type: 'report.hourly', payload: { stream: 'ops' } } })
    const input = cronEvent(report, at('2025-01-01T05:00:00Z'))
    expect(input).toMatchObject({ source: 'cron', id: 'cron:report:2025-01-01T05:00:00.000Z', event: { provider: 'cron', type: 'report.hourly' }, payload: { stream: 'ops' } })
    const router = createRouter(webhooksConfigSchema.parse({
      rules: [{ name: 'hourly', match: { provider: 'cron', type: 'report.*' }, actions: [{ kind: 'checkpoint', stream: '{{ payload.stream }}', label: '{{ event.id }}' }] }]
    }))
    expect(router.route(input)).toEqual({ rule: 'hourly', actions: [{ kind: 'checkpoint', stream: 'ops', label: 'cron:report:2025-01-01T05:00:00.000Z' }] })
  })
})

describe('cron config', () => {
  it('fills defaults: no catch-up, 60 s grace, empty payload', () => {
    expect(cronConfigSchema.parse({ jobs: [{ name: 'j', schedule: '*/5 * * * *', event: { type: 't' } }] }).jobs[0]).toEqual({
      name: 'j', schedule: '*/5 * * * *', catchUp: false, graceMs: 60_000, event: { type: 't', payload: {} }
    })
    expect(cronConfigSchema.parse({})).toEqual({ jobs: [] })
  })

  it('refuses a bad pattern, an unknown time zone, a schedule that never fires again and duplicate names', () => {
    const issuesOf = (input: unknown): string[] => {
      const result = cronConfigSchema.safeParse(input)
      return result.success ? [] : result.error.issues.map(i => `${i.path.join('.')}: ${i.message}`)
    }
    expect(issuesOf({ jobs: [{ name: 'j', schedule: 'every minute', event: { type: 't' } }] })[0]).toMatch(/^jobs\.0\.schedule: not a cron pattern/)
    expect(issuesOf({ jobs: [{ name: 'j', schedule: '* * * * *', timezone: 'Mars/Olympus', event: { type: 't' } }] })[0]).toMatch(/^jobs\.0\.timezone: /)
    expect(issuesOf({ jobs: [{ name: 'j', schedule: '0 0 0 1 1 * 2001', event: { type: 't' } }] })[0]).toMatch(/never fires again/)
    expect(issuesOf({ jobs: [{ name: 'j', schedule: '* * * * *', event: { type: 't' } }, { name: 'j', schedule: '0 * * * *', event: { type: 'u' } }] })[0]).toMatch(/^jobs\.1\.name: .*used twice/)
    expect(issuesOf({ jobs: [{ name: 'has space', schedule: '* * * * *', event: { type: 't' } }] })[0]).toMatch(/^jobs\.0\.name/)
  })
})
