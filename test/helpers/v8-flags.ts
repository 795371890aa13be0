import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './nodes.ts'

/** The V8 flags bin/idlemesh.mjs starts a node with (its V8_FLAGS). */
export function launcherV8Flags (): string[] {
  const source = readFileSync(join(ROOT, 'bin', 'idlemesh.mjs'), 'utf8')
  const list = /^const V8_FLAGS = \[(.*)\]$/m.exec(source)?.[1]
  if (list === undefined) throw new Error('bin/idlemesh.mjs has no V8_FLAGS line')
  return [...list.matchAll(/'([^']+)'/g)].map(m => m[1] as string)
}
