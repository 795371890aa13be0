/**
 * Every error idlemesh reports to a person or a client carries a stable `code`
 * (UPPER_SNAKE, never reworded once shipped) and, where it crosses the HTTP edge,
 * the status it maps to. Messages say what went wrong and what to do about it.
 */
export class IdlemeshError extends Error {
  readonly code: string
  readonly status: number

  constructor (code: string, message: string, options: { status?: number, cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'IdlemeshError'
    this.code = code
    this.status = options.status ?? 500
  }
}

export function isIdlemeshError (err: unknown): err is IdlemeshError {
  return err instanceof IdlemeshError
}
