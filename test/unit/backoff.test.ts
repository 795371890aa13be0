import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../../src/mesh/index.ts'

describe('reconnect backoff', () => {
  it('doubles from the initial delay and stops at the cap, with ±20 % jitter', () => {
    const middle = (): number => 0.5
    expect([0, 1, 2, 3, 4, 5, 6, 40].map(n => backoffDelay(n, 250, 5000, middle))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000])
    expect(backoffDelay(10, 250, 5000, () => 0)).toBe(4000)
    expect(backoffDelay(10, 250, 5000, () => 1)).toBe(6000)
  })
})
