import { readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { DATA_FILES } from './identity/index.ts'

/** What a running node tells the CLI and operators about itself, in DIR/runtime.json. */
export interface RuntimeInfo {
  peerId: string
  pid: number
  multiaddrs: string[]
  httpUrl: string
  startedAt: string
  version: string
}

export function runtimePath (dataDir: string): string {
  return join(dataDir, DATA_FILES.runtime)
}

export function writeRuntime (dataDir: string, info: RuntimeInfo): void {
  const path = runtimePath(dataDir)
  writeFileSync(`${path}.tmp`, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 })
  renameSync(`${path}.tmp`, path)
}

export function readRuntime (dataDir: string): RuntimeInfo | undefined {
  try {
    return JSON.parse(readFileSync(runtimePath(dataDir), 'utf8')) as RuntimeInfo
  } catch {
    return undefined
  }
}

export function removeRuntime (dataDir: string): void {
  rmSync(runtimePath(dataDir), { force: true })
}

export function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
