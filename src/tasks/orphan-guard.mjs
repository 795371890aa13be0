#!/usr/bin/env node
/**
 * Runs a command and makes sure it does not outlive the idlemesh node that started it.
 *
 *   node orphan-guard.mjs <killGraceMs> -- <command> [args…]
 *
 * The runner starts each task in a process group of its own (so it can kill the whole group),
 * which also means a node killed with SIGKILL leaves the group running: the run would go on
 * while the mesh, once the lease lapses, starts the task again elsewhere. This guard leads the
 * group, runs the command in it with the same stdio, and watches its parent: when the node dies
 * the guard is re-parented, notices within POLL_MS, and kills the group (SIGTERM, then SIGKILL
 * after the grace). The lease outlasts that by design, so the next attempt starts only after.
 *
 * Signals the runner sends to the group reach the command directly; the guard ignores them and
 * exits as the command did (same code, or the same signal).
 */
import { spawn } from 'node:child_process'

const POLL_MS = 100
const args = process.argv.slice(2)
const separator = args.indexOf('--')
const grace = Number(args[0])
const [command, ...rest] = separator >= 0 ? args.slice(separator + 1) : []
if (command === undefined || !Number.isFinite(grace)) {
  process.stderr.write('usage: orphan-guard.mjs <killGraceMs> -- <command> [args…]\n')
  process.exit(2)
}

const parent = process.ppid
const ignore = () => {}
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, ignore)

const child = spawn(command, rest, { stdio: 'inherit' })
child.on('error', (err) => {
  process.stderr.write(`orphan-guard: could not start ${command}: ${err.message}\n`)
  process.exit(127)
})

const killGroup = (signal) => {
  try { process.kill(-process.pid, signal) } catch {}
}

let orphaned = false
const watch = setInterval(() => {
  if (orphaned || process.ppid === parent) return
  orphaned = true
  process.stderr.write(`orphan-guard: the node (pid ${parent}) is gone; stopping the run\n`)
  killGroup('SIGTERM')
  setTimeout(() => killGroup('SIGKILL'), grace).unref()
}, POLL_MS)

child.on('exit', (code, signal) => {
  clearInterval(watch)
  if (signal !== null) {
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.off(s, ignore)
    process.kill(process.pid, signal)
    return
  }
  process.exit(code ?? 1)
})
