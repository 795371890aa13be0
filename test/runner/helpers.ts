import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
export const FIXTURES = resolve(here, '../fixtures/runner')
export const FAKE_CLAUDE = join(FIXTURES, 'fake-claude.mjs')
export const FAKE_PUBLISH = join(FIXTURES, 'fake-publish.mjs')
export const REAL_CLAUDE = resolve(here, '../../node_modules/.bin/claude')

/** The fake CLI run by the Node that runs the tests (the `node` on PATH may be older). */
export const FAKE_COMMAND = [process.execPath, FAKE_CLAUDE]

export async function makeTempDir (prefix: string): Promise<{ dir: string, remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `idlemesh-${prefix}-`))
  return { dir, remove: async () => await rm(dir, { recursive: true, force: true }) }
}

export interface RecordEntry {
  event: 'start' | 'end' | 'grandchild' | 'ignored'
  pid: number
  at: number
  mode?: string
  argv?: string[]
  cwd?: string
  env?: Record<string, string>
  prompt?: string
  childPid?: number
  how?: string
}

export async function readRecord (file: string): Promise<RecordEntry[]> {
  let text = ''
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return []
  }
  return text.split('\n').filter(line => line !== '').map(line => JSON.parse(line) as RecordEntry)
}

/** Whether a process is alive: a zombie (exited, not yet reaped by its parent) counts as gone. */
export function isAlive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The state letter follows the parenthesised command name, which may itself hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

export async function waitFor (condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
