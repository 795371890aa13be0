import { spawn } from 'node:child_process'

export interface CommandOptions {
  /** Written to the command's stdin, then stdin is closed. */
  stdin: string
  timeoutMs: number
  /** Stdout beyond this many bytes is dropped (the result says so). */
  maxOutputBytes: number
  env: Record<string, string>
  signal?: AbortSignal
}

/** Stderr kept for the error message of a failed command: its last 4 KiB. */
const STDERR_TAIL_BYTES = 4096
/** From SIGTERM to SIGKILL of a command's process group. */
const KILL_GRACE_MS = 2000

/**
 * Runs one argv, never through a shell, in a process group of its own (so a timeout takes its
 * children down too), with `stdin` on stdin. Resolves with the JSON the command printed on
 * stdout, or `{ raw }` when it printed something else (kept, not dropped). Rejects when it
 * cannot start, exits non-zero, is killed, or outlives `timeoutMs`.
 */
export async function runCommand (argv: string[], options: CommandOptions): Promise<unknown> {
  const [file, ...args] = argv
  if (file === undefined) throw new Error('a command needs an executable')
  options.signal?.throwIfAborted()
  return await new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
    const stdout: Buffer[] = []
    let stdoutBytes = 0
    let truncated = false
    let stderr = Buffer.alloc(0)
    let failure: string | undefined
    let killTimer: NodeJS.Timeout | undefined
    const signalGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return
      try { process.kill(-child.pid, signal) } catch {}
    }
    const kill = (why: string): void => {
      if (failure !== undefined) return
      failure = why
      signalGroup('SIGTERM')
      killTimer = setTimeout(() => { signalGroup('SIGKILL') }, KILL_GRACE_MS)
      killTimer.unref()
    }
    const timer = setTimeout(() => { kill(`timed out after ${options.timeoutMs} ms`) }, options.timeoutMs)
    const onAbort = (): void => { kill('interrupted: the node is stopping') }
    options.signal?.addEventListener('abort', onAbort, { once: true })

    child.stdout.on('data', (chunk: Buffer) => {
      if (stdoutBytes + chunk.length > options.maxOutputBytes) {
        truncated = true
        chunk = chunk.subarray(0, Math.max(0, options.maxOutputBytes - stdoutBytes))
      }
      stdoutBytes += chunk.length
      if (chunk.length > 0) stdout.push(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk])
      if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES)
    })
    // A command that does not read its stdin closes the pipe early: that is its business.
    child.stdin.on('error', () => {})
    child.stdin.end(options.stdin)
    child.on('error', (err) => {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      reject(new Error(`could not start ${file}: ${err.message}`))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      clearTimeout(killTimer)
      options.signal?.removeEventListener('abort', onAbort)
      if (child.pid === undefined) return
      const tail = stderr.toString('utf8').trim().split('\n').slice(-5).join(' | ')
      if (failure !== undefined) { reject(new Error(`${file} ${failure}`)); return }
      if (code !== 0) {
        reject(new Error(`${file} ${signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`}${tail === '' ? '' : `: ${tail.slice(0, 1000)}`}`))
        return
      }
      const text = Buffer.concat(stdout).toString('utf8')
      let result: unknown
      try {
        result = text.trim() === '' ? null : JSON.parse(text)
      } catch {
        result = { raw: text }
      }
      resolve(truncated ? { truncated: true, raw: text } : result)
    })
  })
}
