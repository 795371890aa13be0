import { setTimeout as sleep } from 'node:timers/promises'

export { sleep }

export class WaitTimeoutError extends Error {
  constructor (what: string, timeoutMs: number, last?: string) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : ` (last: ${last})`}`)
    this.name = 'WaitTimeoutError'
  }
}

export interface WaitOptions {
  /** Gives up after this long. */
  timeoutMs: number
  /** Pause between two checks: 50 ms. */
  intervalMs?: number
  /** Named in the timeout error: 'node 2 to be ready'. */
  what: string
  /** Stops waiting at once, rejecting with the signal's reason (e.g. the process died). */
  signal?: AbortSignal
}

/**
 * Polls `check` until it returns a value other than undefined/false, and returns that value.
 * A check that throws counts as "not yet"; its last message goes into the timeout error, which
 * is usually the most useful thing to tell a person.
 */
export async function waitFor<T> (check: () => T | undefined | false | Promise<T | undefined | false>, options: WaitOptions): Promise<T> {
  const interval = options.intervalMs ?? 50
  const deadline = performance.now() + options.timeoutMs
  let last: string | undefined
  for (;;) {
    options.signal?.throwIfAborted()
    const started = performance.now()
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      options.signal?.throwIfAborted()
      last = (err as Error).message
    }
    if (performance.now() >= deadline) throw new WaitTimeoutError(options.what, options.timeoutMs, last)
    const pause = Math.min(interval - (performance.now() - started), deadline - performance.now())
    // An abort rejects the sleep with a generic AbortError; rethrow the signal's own reason.
    if (pause > 0) await sleep(pause, undefined, { signal: options.signal }).catch(() => { options.signal?.throwIfAborted() })
  }
}
