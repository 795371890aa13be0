import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

/**
 * One process-wide registry of what scripts started: child processes and temporary
 * directories. Normal code paths clean up after themselves; this is the safety net for a
 * thrown error, an unhandled rejection or Ctrl-C, when no `finally` gets to run. Only what was
 * registered here is ever killed or removed.
 */

interface Tracked {
  child: ChildProcess
  /** The child leads its own process group (spawned detached): kill the whole group. */
  group: boolean
}

const children = new Set<Tracked>()
const dirs = new Set<string>()
let installed = false

const SIGNAL_EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }

export function trackChild (child: ChildProcess, options: { group?: boolean } = {}): void {
  install()
  const tracked: Tracked = { child, group: options.group === true }
  children.add(tracked)
  child.once('exit', () => { children.delete(tracked) })
}

export function trackDir (dir: string): void {
  install()
  dirs.add(dir)
}

/** Removes a directory now and forgets it. */
export function removeDir (dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 })
  dirs.delete(dir)
}

export function isRunning (child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

/** Sends `signal` to a child (or its whole process group); a child already gone is fine. */
export function signalChild (child: ChildProcess, signal: NodeJS.Signals, group = false): void {
  if (!isRunning(child) || child.pid === undefined) return
  try {
    if (group) process.kill(-child.pid, signal)
    else child.kill(signal)
  } catch {
    // ESRCH: it exited between the check and the signal.
  }
}

/** Synchronous on purpose: it also runs from process 'exit', where nothing async runs any more. */
export function cleanupAllSync (): void {
  for (const { child, group } of children) signalChild(child, 'SIGKILL', group)
  children.clear()
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 })
    } catch {
      // Best effort: the process is going away either way.
    }
  }
  dirs.clear()
}

function install (): void {
  if (installed) return
  installed = true
  process.on('exit', cleanupAllSync)
  for (const signal of Object.keys(SIGNAL_EXIT_CODES)) {
    // A listener replaces Node's default "die on signal", so exit explicitly after cleaning up.
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping ${children.size} process(es) this script started and removing its temp dirs\n`)
      cleanupAllSync()
      process.exit(SIGNAL_EXIT_CODES[signal])
    })
  }
}
