import { IdlemeshError } from '../errors.ts'

interface Waiter {
  grant: () => void
  refuse: (err: unknown) => void
}

/**
 * A counting semaphore whose waiters are served strictly in arrival order: a released slot is
 * handed straight to the oldest waiter, so a newcomer can never overtake the queue.
 */
export class Slots {
  readonly capacity: number
  private held = 0
  private readonly waiters: Waiter[] = []

  constructor (capacity: number) {
    this.capacity = capacity
  }

  get running (): number {
    return this.held
  }

  get waiting (): number {
    return this.waiters.length
  }

  /** Takes a slot if one is free and nobody is queued before us. */
  tryAcquire (): boolean {
    if (this.held >= this.capacity || this.waiters.length > 0) return false
    this.held += 1
    return true
  }

  /** Resolves once a slot is ours; rejects with the signal's reason if it aborts first. */
  async acquire (signal: AbortSignal): Promise<void> {
    if (this.tryAcquire()) return
    signal.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter)
        if (at >= 0) this.waiters.splice(at, 1)
        reject(signal.reason)
      }
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        },
        refuse: (err) => {
          signal.removeEventListener('abort', onAbort)
          reject(err)
        }
      }
      this.waiters.push(waiter)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  release (): void {
    const next = this.waiters.shift()
    if (next !== undefined) {
      next.grant()
      return
    }
    if (this.held === 0) throw new IdlemeshError('RUNNER_INTERNAL', 'a runner slot was released twice')
    this.held -= 1
  }
}
