import { isIP } from 'node:net'
import { IdlemeshError } from '../errors.ts'

export function parseHostPort (value: string): { host: string, port: number } {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value)
  const port = Number(match?.[3])
  if (match === null || port > 65535) {
    throw new IdlemeshError('CONFIG_INVALID', `invalid HTTP address "${value}": expected HOST:PORT, e.g. 127.0.0.1:7701`, { status: 400 })
  }
  return { host: (match[1] ?? match[2]) as string, port }
}

export function isLoopbackHost (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}
