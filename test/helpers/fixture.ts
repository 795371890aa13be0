import { afterEach, beforeEach } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import { stopAll, tempDirs, type NodeProcess, type TempDirs } from './nodes.ts'

/** What the tests of one file start: each test gets its own temp dirs, and all of it goes after each test. */
export interface TestFixture {
  /** This test's temporary directories, removed after it. */
  dirs: TempDirs
  /** In-process nodes, stopped after each test. */
  nodes: IdlemeshNode[]
  /** Node processes, SIGKILLed after each test. */
  procs: NodeProcess[]
}

/** Registers the hooks that give each test of the calling `describe` a fresh TestFixture. */
export function useTestFixture (): TestFixture {
  const fixture: TestFixture = { dirs: undefined as unknown as TempDirs, nodes: [], procs: [] }
  beforeEach(() => { fixture.dirs = tempDirs() })
  afterEach(async () => {
    await Promise.all(fixture.procs.map(async p => { await p.kill('SIGKILL') }))
    fixture.procs = []
    await stopAll(fixture.nodes)
    fixture.nodes = []
    fixture.dirs.cleanup()
  })
  return fixture
}
