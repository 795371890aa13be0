import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { trackChild, isRunning, signalChild } from './cleanup.ts'

/** Resident set size of a live process, in bytes (Linux: VmRSS of /proc/PID/status). */
export function readRssBytes (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  if (match?.[1] === undefined) throw new Error(`no VmRSS in /proc/${pid}/status (is the process a zombie?)`)
  return Number(match[1]) * 1024
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

/** Resolves when the child has exited (at once if it already has). */
export async function exited (child: ChildProcess): Promise<ExitStatus> {
  if (!isRunning(child)) return { code: child.exitCode, signal: child.signalCode }
  return await new Promise(resolve => {
    child.once('exit', (code, signal) => { resolve({ code, signal }) })
  })
}

/**
 * Sends `signal`, waits up to `graceMs` for the exit, then SIGKILLs. Always resolves once the
 * process is gone, so callers can rely on its ports and files being released.
 */
export async function terminate (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<ExitStatus> {
  const done = exited(child)
  signalChild(child, signal)
  if (signal === 'SIGKILL') return await done
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>(resolve => { timer = setTimeout(resolve, graceMs) })
  const first = await Promise.race([done, late])
  clearTimeout(timer)
  if (first !== undefined) return first
  signalChild(child, 'SIGKILL')
  return await done
}

/** Starts a tracked child that outlives nothing: it is killed if this process dies. */
export function spawnTracked (command: string, args: readonly string[], options: Parameters<typeof spawn>[2] = {}): ChildProcess {
  const child = spawn(command, args, options)
  trackChild(child)
  return child
}

/** Runs a command to completion (bounded by `timeoutMs`) and returns its output. */
export async function run (command: string, args: readonly string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs: number }): Promise<{ stdout: string, stderr: string }> {
  const child = spawnTracked(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; signalChild(child, 'SIGKILL') }, options.timeoutMs)
  const status = await new Promise<ExitStatus>((resolve, reject) => {
    child.once('error', reject)
    // 'close', not 'exit': it waits for the output pipes to be drained.
    child.once('close', (code, signal) => { resolve({ code, signal }) })
  }).finally(() => { clearTimeout(timer) })
  if (status.code !== 0) {
    const why = timedOut ? `still running after ${options.timeoutMs} ms` : status.signal !== null ? `killed by ${status.signal}` : `exit code ${String(status.code)}`
    const line = tellingLine(stderr.split('\n')) ?? lastNonEmptyLine(stdout) ?? ''
    throw new Error(`${[command, ...args].join(' ')}: ${why}${line === '' ? '' : `: ${line}`}`)
  }
  return { stdout, stderr }
}

export function lastNonEmptyLine (text: string): string | undefined {
  return text.split('\n').map(l => l.trim()).filter(l => l !== '').at(-1)
}

/**
 * The line of a failed process's output most worth showing a person: the CLI's own error line,
 * else the first line naming an error (a crash ends with 'Node.js v24…', which says nothing),
 * else the last line.
 */
export function tellingLine (lines: readonly string[]): string | undefined {
  const trimmed = lines.map(l => l.trim()).filter(l => l !== '')
  return trimmed.filter(l => l.startsWith('idlemesh:')).at(-1) ??
    trimmed.find(l => /^[A-Za-z]*Error\b/.test(l)) ??
    trimmed.at(-1)
}
