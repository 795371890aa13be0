/**
 * Capped exponential backoff with ±20 % jitter, so a fleet that lost a peer at the same moment
 * does not redial it in lockstep: initial, 2×, 4×, … up to max.
 */
export function backoffDelay (attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30))
  return Math.round(base * (0.8 + 0.4 * random()))
}
