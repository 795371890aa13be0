import { pino, type Logger, type LevelWithSilent } from 'pino'

export type { Logger }

export interface LoggerInit {
  /** @default 'info' */
  level?: LevelWithSilent
  /** Bound to every line, e.g. the node's peer ID. */
  bindings?: Record<string, unknown>
  /** Where lines go; stdout when absent. */
  destination?: NodeJS.WritableStream
}

/** Paths pino blanks out wherever they appear, so a secret never reaches a log line. */
const REDACT = ['secret', '*.secret', 'token', '*.token', 'apiToken', '*.apiToken', 'psk', '*.psk', 'key', '*.key', 'authorization', '*.authorization']

export function createLogger (init: LoggerInit = {}): Logger {
  const options = { level: init.level ?? 'info', base: init.bindings ?? {}, redact: { paths: REDACT, censor: '[redacted]' } }
  return init.destination === undefined ? pino(options) : pino(options, init.destination)
}

/** A logger that drops everything: for tests and for library use without output. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
