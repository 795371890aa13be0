import { IdlemeshError } from '../errors.ts'
import { defaultDataDir } from '../identity/index.ts'
import { readRuntime } from '../runtime.ts'

export interface NodeTarget {
  node?: string
  dataDir?: string
  token?: string
}

/** Which node a CLI command talks to: --node, else the runtime.json of --data-dir (or the default dir). */
export function resolveNodeUrl (target: NodeTarget, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = target.node ?? env.IDLEMESH_NODE
  if (explicit !== undefined) return explicit.replace(/\/+$/, '')
  const dataDir = target.dataDir ?? defaultDataDir(env)
  const runtime = readRuntime(dataDir)
  if (runtime === undefined) {
    throw new IdlemeshError('NODE_NOT_RUNNING', `no node is running on ${dataDir} (no runtime.json); start one with 'idlemesh start' or pass --node URL`, { status: 503 })
  }
  return runtime.httpUrl
}

export interface ApiClient {
  baseUrl: string
  request: <T = unknown>(method: string, path: string, init?: { body?: string | Uint8Array | ReadableStream, headers?: Record<string, string>, timeoutMs?: number }) => Promise<{ status: number, headers: Headers, body: T }>
}

export function createApiClient (target: NodeTarget, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const baseUrl = resolveNodeUrl(target, env)
  const token = target.token ?? env.IDLEMESH_API_TOKEN
  return {
    baseUrl,
    async request (method, path, init = {}) {
      const headers: Record<string, string> = { ...init.headers }
      if (token !== undefined) headers.authorization = `Bearer ${token}`
      let response: Response
      try {
        response = await fetch(`${baseUrl}${path}`, { method, headers, ...(init.body === undefined ? {} : { body: init.body, duplex: 'half' }), signal: AbortSignal.timeout(init.timeoutMs ?? 30_000) } as RequestInit)
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name
        throw new IdlemeshError('NODE_UNREACHABLE', `cannot reach the node at ${baseUrl}: ${cause}`, { status: 503, cause: err })
      }
      const text = await response.text()
      const body = parseBody(text, response.headers.get('content-type'))
      if (!response.ok) {
        const error = (body as { error?: { code?: string, message?: string } } | undefined)?.error
        throw new IdlemeshError(error?.code ?? 'HTTP_ERROR', error?.message ?? `${method} ${path}: HTTP ${response.status}`, { status: response.status })
      }
      return { status: response.status, headers: response.headers, body: body as never }
    }
  }
}

function parseBody (text: string, contentType: string | null): unknown {
  if (contentType?.includes('json') === true) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  return text
}
