/**
 * Reading Claude Code's `--output-format stream-json`: one JSON object per line, each with a
 * `type` (`system`, `assistant`, `user`, `result`, …). Anything else on stdout is kept as raw
 * text, because it is usually the one clue to why a run went wrong.
 */

/** One parsed stream-json message; only `type` is guaranteed. */
export interface StreamMessage {
  type: string
  subtype?: string
  session_id?: string
  [field: string]: unknown
}

/** What the final `result` message says about the run. */
export interface ResultSummary {
  subtype: string
  isError: boolean
  result?: string
  sessionId?: string
  numTurns?: number
  durationMs?: number
  costUsd?: number
  modelUsage?: Record<string, unknown>
  /** Error texts some error subtypes carry instead of `result`. */
  errors?: string[]
}

/** The message a line holds, or undefined when the line is not a stream-json message. */
export function parseLine (line: string): StreamMessage | undefined {
  const trimmed = line.trim()
  if (!trimmed.startsWith('{')) return undefined
  let value: unknown
  try {
    value = JSON.parse(trimmed)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const message = value as Record<string, unknown>
  return typeof message.type === 'string' ? message as StreamMessage : undefined
}

export function summarizeResult (message: StreamMessage): ResultSummary {
  const errors = Array.isArray(message.errors) ? message.errors.filter((e): e is string => typeof e === 'string') : []
  return {
    subtype: typeof message.subtype === 'string' ? message.subtype : 'unknown',
    isError: message.is_error === true,
    result: stringOrUndefined(message.result),
    sessionId: stringOrUndefined(message.session_id),
    numTurns: numberOrUndefined(message.num_turns),
    durationMs: numberOrUndefined(message.duration_ms),
    costUsd: numberOrUndefined(message.total_cost_usd),
    modelUsage: typeof message.modelUsage === 'object' && message.modelUsage !== null && !Array.isArray(message.modelUsage)
      ? message.modelUsage as Record<string, unknown>
      : undefined,
    errors: errors.length > 0 ? errors : undefined
  }
}

/** Why a result counts as a failure, or undefined when it is a success. */
export function resultFailure (summary: ResultSummary): string | undefined {
  if (summary.subtype === 'success' && !summary.isError) return undefined
  const detail = summary.result ?? summary.errors?.join('; ')
  const head = `claude reported ${summary.subtype}${summary.isError ? ' (is_error)' : ''}`
  return detail === undefined || detail === '' ? head : `${head}: ${clip(detail, 500)}`
}

/**
 * Splits a text stream into lines. A line longer than `maxLineChars` is handed on in pieces of
 * that size, so one endless line cannot exhaust memory.
 */
export class LineSplitter {
  private pending = ''
  private readonly maxLineChars: number
  private readonly onLine: (line: string) => void

  constructor (maxLineChars: number, onLine: (line: string) => void) {
    this.maxLineChars = maxLineChars
    this.onLine = onLine
  }

  push (chunk: string): void {
    let text = this.pending + chunk
    let newline = text.indexOf('\n')
    while (newline >= 0) {
      this.onLine(stripCr(text.slice(0, newline)))
      text = text.slice(newline + 1)
      newline = text.indexOf('\n')
    }
    while (text.length > this.maxLineChars) {
      this.onLine(text.slice(0, this.maxLineChars))
      text = text.slice(this.maxLineChars)
    }
    this.pending = text
  }

  /** Hands on the last line when the stream ended without a newline. */
  flush (): void {
    if (this.pending !== '') this.onLine(stripCr(this.pending))
    this.pending = ''
  }
}

/** Keeps the last `maxChars` characters appended, and counts what it dropped. */
export class TailBuffer {
  private chunks: string[] = []
  private size = 0
  private dropped = 0
  private readonly maxChars: number

  constructor (maxChars: number) {
    this.maxChars = maxChars
  }

  append (text: string): void {
    this.chunks.push(text)
    this.size += text.length
    while (this.size > this.maxChars && this.chunks.length > 0) {
      const first = this.chunks[0] as string
      const excess = this.size - this.maxChars
      if (first.length <= excess) {
        this.chunks.shift()
        this.size -= first.length
        this.dropped += first.length
      } else {
        this.chunks[0] = first.slice(excess)
        this.size -= excess
        this.dropped += excess
      }
    }
  }

  /** The kept text, marked at the start when older text was dropped; undefined when empty. */
  text (): string | undefined {
    if (this.size === 0 && this.dropped === 0) return undefined
    const kept = this.chunks.join('')
    return this.dropped > 0 ? `[${this.dropped} earlier characters dropped]\n${kept}` : kept
  }
}

function stripCr (line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line
}

function stringOrUndefined (value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function numberOrUndefined (value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

export function clip (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`
}
