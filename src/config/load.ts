import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { z } from 'zod'
import { IdlemeshError } from '../errors.ts'
import { configSchema, type Config } from './schema.ts'

export const ENV_PREFIX = 'IDLEMESH_'

/** Environment variables that are not config fields (read elsewhere), or friendlier aliases of fields. */
const ENV_ALIASES: Record<string, string[] | null> = {
  IDLEMESH_DATA_DIR: null,
  IDLEMESH_NODE: null,
  IDLEMESH_CONFIG: null,
  IDLEMESH_API_TOKEN: ['http', 'token'],
  IDLEMESH_HTTP: ['http', 'listen'],
  IDLEMESH_LOG_LEVEL: ['log', 'level']
}

export interface LoadConfigInit {
  /** Path of a YAML or JSON config file; absent means embedded defaults only. */
  file?: string
  env?: NodeJS.ProcessEnv
  /** Values from command-line flags: they win over the file and the environment. */
  overrides?: Record<string, unknown>
}

/**
 * Embedded defaults ← file ← IDLEMESH_* environment ← command-line flags, validated once and
 * frozen. Environment names map to fields by `__` for nesting and `_` for camel case:
 * IDLEMESH_MEMBERSHIP__HEARTBEAT_INTERVAL_MS=500 sets membership.heartbeatIntervalMs. Values are
 * read as JSON when they parse (numbers, booleans, arrays), and lists also as comma-separated text.
 */
export function loadConfig (init: LoadConfigInit = {}): Readonly<Config> {
  let input: Record<string, unknown> = {}
  if (init.file !== undefined) input = readConfigFile(init.file)
  mergeInto(input, envToConfig(init.env ?? process.env))
  mergeInto(input, init.overrides ?? {})
  return validateConfig(input, init.file)
}

export function validateConfig (input: unknown, source?: string): Readonly<Config> {
  const result = configSchema.safeParse(input)
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue
    const field = issue.path.join('.') || '(root)'
    const where = source === undefined ? '' : ` in ${source}`
    throw new IdlemeshError('CONFIG_INVALID', `invalid config${where}: ${field}: ${describeIssue(issue)}`, { status: 400 })
  }
  return deepFreeze(result.data)
}

function describeIssue (issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.map(k => `"${k}"`).join(', ')}; see config/idlemesh.example.yaml for the fields`
  if (issue.code === 'invalid_value') return `${issue.message}`
  return issue.message
}

function readConfigFile (file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new IdlemeshError('CONFIG_UNREADABLE', `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { status: 400, cause: err })
  }
  let parsed: unknown
  try {
    // Loaded only when there is a file to read: a node on the embedded defaults never needs it.
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml')
    parsed = parse(text) ?? {}
  } catch (err) {
    throw new IdlemeshError('CONFIG_INVALID', `config file ${file} is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`, { status: 400, cause: err })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new IdlemeshError('CONFIG_INVALID', `config file ${file} must hold a mapping of fields`, { status: 400 })
  }
  return parsed as Record<string, unknown>
}

export function envToConfig (env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue
    const alias = ENV_ALIASES[name]
    if (alias === null) continue
    const path = alias ?? name.slice(ENV_PREFIX.length).split('__').map(camelCase)
    setPath(out, path, parseEnvValue(path, raw))
  }
  return out
}

const LIST_FIELDS = new Set(['listen', 'announce', 'bootstrap', 'allowlist'])

function parseEnvValue (path: string[], raw: string): unknown {
  const last = path[path.length - 1] ?? ''
  if (path.length === 1 && LIST_FIELDS.has(last) && !raw.trim().startsWith('[')) {
    return raw.split(',').map(s => s.trim()).filter(s => s !== '')
  }
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

function camelCase (snake: string): string {
  return snake.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

function setPath (target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[path[path.length - 1] as string] = value
}

function mergeInto (target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue
    const existing = target[key]
    if (isPlainObject(value) && isPlainObject(existing)) mergeInto(existing, value)
    else target[key] = value
  }
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
