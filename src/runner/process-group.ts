import type { Logger } from '../logger.ts'

/**
 * Sends `signal` to every process in the group led by `pid` (the CLI is spawned detached, so it
 * leads its own group, and the shells and tools it starts inherit that group). Returns false when
 * the group no longer exists.
 */
export function signalGroup (pid: number, signal: NodeJS.Signals, logger: Logger): boolean {
  try {
    process.kill(-pid, signal)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') logger.warn({ err, pid, signal }, 'runner: could not signal process group')
    return false
  }
}
