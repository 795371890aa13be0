import { spawn } from 'node:child_process'
import { IdlemeshError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { signalGroup } from './process-group.ts'
import { TailBuffer, clip } from './stream-json.ts'

export interface ExecOptions {
  cwd?: string
  env: Record<string, string>
  timeoutMs: number
  signal?: AbortSignal
  logger: Logger
}

export interface ExecResult {
  exitCode: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

const CAPTURE_CHARS = 256 * 1024 // 256 Ki characters kept of each stream of a helper command
const KILL_GRACE_MS = 2_000 // from SIGTERM to SIGKILL for a helper command's group

/**
 * Runs one argv (never through a shell) and collects its output. Resolves whatever the exit
 * code; rejects only when it cannot start, times out or is aborted, with the whole process group
 * killed (git starts helpers such as `git-remote-https` that must not outlive it).
 */
export async function execArgv (argv: string[], options: ExecOptions): Promise<ExecResult> {
  const [file, ...args] = argv
  if (file === undefined) throw new IdlemeshError('WORKSPACE_COMMAND_INVALID', 'a command must name an executable')
  options.signal?.throwIfAborted()
  const stdout = new TailBuffer(CAPTURE_CHARS)
  const stderr = new TailBuffer(CAPTURE_CHARS)
  options.logger.debug({ argv: argv.map(redactCredentials), cwd: options.cwd }, 'runner: exec')

  return await new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let failure: IdlemeshError | undefined
    let killTimer: NodeJS.Timeout | undefined
    const kill = (err: IdlemeshError): void => {
      if (failure !== undefined || child.pid === undefined) return
      failure = err
      signalGroup(child.pid, 'SIGTERM', options.logger)
      const pid = child.pid
      killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL', options.logger), KILL_GRACE_MS)
    }
    const timer = setTimeout(() => {
      kill(new IdlemeshError('WORKSPACE_COMMAND_TIMEOUT', `${file} did not finish within ${options.timeoutMs} ms`))
    }, options.timeoutMs)
    const onAbort = (): void => kill(new IdlemeshError('WORKSPACE_COMMAND_CANCELLED', `${file} was cancelled`, { cause: options.signal?.reason }))
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const cleanup = (): void => {
      clearTimeout(timer)
      clearTimeout(killTimer)
      options.signal?.removeEventListener('abort', onAbort)
    }

    child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.append(chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.append(chunk))
    child.on('error', (err) => {
      if (child.pid !== undefined) return
      cleanup()
      reject(new IdlemeshError('WORKSPACE_COMMAND_FAILED', `could not start ${file}: ${err.message}`, { cause: err }))
    })
    child.on('close', (code, signal) => {
      cleanup()
      if (failure !== undefined) {
        reject(failure)
        return
      }
      resolve({ exitCode: code, signal, stdout: stdout.text() ?? '', stderr: stderr.text() ?? '' })
    })
  })
}

/**
 * Like execArgv, but a non-zero exit is an error carrying `code`, the command's `label` and the
 * end of its stderr (the argv itself may hold a token, so it is not quoted).
 */
export async function execChecked (argv: string[], options: ExecOptions, code: string, label: string): Promise<ExecResult> {
  const result = await execArgv(argv, options)
  if (result.exitCode !== 0) {
    const ending = result.signal !== null ? `was killed by ${result.signal}` : `exited with code ${String(result.exitCode)}`
    throw new IdlemeshError(code, `${label} ${ending}: ${redactCredentials(clip(result.stderr.trim(), 2000))}`)
  }
  return result
}

/** Blanks the user:password part of URLs such as `https://x-access-token:TOKEN@github.com/…`. */
export function redactCredentials (text: string): string {
  return text.replace(/(\/\/)[^/@\s]+@/g, '$1[redacted]@')
}
