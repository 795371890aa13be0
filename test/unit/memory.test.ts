import { spawnSync } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createIdleTrimmer, shouldTrim, type HeapReading } from '../../src/memory/index.ts'
import { silentLogger } from '../../src/logger.ts'
import { ROOT } from '../helpers/nodes.ts'
import { launcherV8Flags } from '../helpers/v8-flags.ts'

const MiB = 1024 * 1024
const SETTINGS = { checkIntervalMs: 20, idleUtilization: 0.05, youngTrimBytes: 4 * MiB, heapGrowthBytes: 16 * MiB, settleMs: 300 }

describe('idle heap trimming', () => {
  it('trims only an idle node whose young generation or heap grew', () => {
    const small: HeapReading = { youngBytes: 1 * MiB, totalBytes: 40 * MiB }
    const fresh = { trims: 0, heapAfterLastTrim: 40 * MiB, idleForMs: 20 }
    expect(shouldTrim(0.01, small, fresh, SETTINGS)).toBe(false)
    expect(shouldTrim(0.01, { ...small, youngBytes: 32 * MiB }, fresh, SETTINGS)).toBe(true)
    expect(shouldTrim(0.01, { ...small, totalBytes: 57 * MiB }, fresh, SETTINGS)).toBe(true)
    expect(shouldTrim(0.01, { ...small, totalBytes: 55 * MiB }, fresh, SETTINGS)).toBe(false)
    // Busy: never, however large the heap.
    expect(shouldTrim(0.2, { youngBytes: 32 * MiB, totalBytes: 400 * MiB }, fresh, SETTINGS)).toBe(false)
    // After the first trim, only once the node has been idle for settleMs.
    const grown = { ...small, youngBytes: 32 * MiB }
    expect(shouldTrim(0.01, grown, { ...fresh, trims: 1, idleForMs: 299 }, SETTINGS)).toBe(false)
    expect(shouldTrim(0.01, grown, { ...fresh, trims: 1, idleForMs: 300 }, SETTINGS)).toBe(true)
  })

  it('collects once per growth, never while busy', async () => {
    let utilization = 0.5
    let heap: HeapReading = { youngBytes: 32 * MiB, totalBytes: 80 * MiB }
    let collections = 0
    const trimmer = createIdleTrimmer({
      collect: () => { collections++; heap = { youngBytes: 1 * MiB, totalBytes: 40 * MiB } },
      utilization: () => utilization,
      heap: () => heap,
      logger: silentLogger()
    }, SETTINGS)
    trimmer.start()
    try {
      await sleep(100)
      expect(collections).toBe(0)
      utilization = 0.01
      await sleep(100)
      expect(collections).toBe(1)
      expect(trimmer.trims).toBe(1)
      // Grown again by a burst: the lull that follows is not enough, a long quiet is.
      utilization = 0.5
      heap = { youngBytes: 16 * MiB, totalBytes: 48 * MiB }
      await sleep(60)
      utilization = 0.01
      await sleep(150)
      expect(collections).toBe(1)
      await sleep(400)
      expect(collections).toBe(2)
    } finally {
      trimmer.stop()
    }
  })

  // The real thing, in a process started as bin/idlemesh.mjs starts a node: the young generation
  // that a burst of allocation grew goes back to V8's minimum once the process is idle.
  it('shrinks a grown young generation in a process started with the node\'s V8 flags', () => {
    const module = pathToFileURL(join(ROOT, 'src', 'memory', 'index.ts')).href
    const script = `
      import { createIdleTrimmer, processMemoryControls } from ${JSON.stringify(module)}
      const controls = processMemoryControls()
      if (controls === undefined) { console.log(JSON.stringify({ exposed: false })); process.exit(0) }
      let keep = []
      for (let i = 0; i < 2e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 200000) keep = [] }
      keep = null
      const before = controls.heap().youngBytes
      const logger = { child: () => logger, debug: () => {} }
      const trimmer = createIdleTrimmer({ ...controls, logger }, { checkIntervalMs: 200 })
      trimmer.start()
      setTimeout(() => {
        trimmer.stop()
        console.log(JSON.stringify({ exposed: true, before, after: controls.heap().youngBytes, trims: trimmer.trims }))
      }, 1000)
    `
    const run = (flags: string[]): { exposed: boolean, before?: number, after?: number, trims?: number } => {
      const result = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 })
      expect(result.status, result.stderr).toBe(0)
      return JSON.parse(result.stdout.trim().split('\n').pop() as string)
    }
    const trimmed = run(['--max-semi-space-size=16', '--expose-gc'])
    expect(trimmed.exposed).toBe(true)
    expect(trimmed.before).toBeGreaterThan(4 * MiB)
    expect(trimmed.trims).toBeGreaterThanOrEqual(1)
    expect(trimmed.after).toBeLessThanOrEqual(2 * MiB)
    // Without --expose-gc (a test, an embedding program) the heap is left alone.
    expect(run(['--max-semi-space-size=16']).exposed).toBe(false)
  })

  // After a trim V8 sets the old generation's collection limit from the little the heap still
  // holds (~26 MB here); a node under webhook load then ran a full collection every ~300 ms.
  // The node's flags keep that limit at 128 MB or more.
  it('keeps the old generation\'s collection limit after a trim, with the node\'s V8 flags', () => {
    const module = pathToFileURL(join(ROOT, 'src', 'memory', 'index.ts')).href
    const script = `
      import { processMemoryControls } from ${JSON.stringify(module)}
      let keep = []
      for (let i = 0; i < 3e5; i++) keep.push({ i })
      processMemoryControls().collect()
      globalThis.gc({ type: 'major', execution: 'sync' })
    `
    const limitsAfterTrim = (flags: string[]): number[] => {
      const result = spawnSync(process.execPath, [...flags, '--trace-gc-nvp', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 })
      expect(result.status, result.stderr).toBe(0)
      const limits = [...result.stdout.matchAll(/old_gen_allocation_limit=(\d+)/g)].map(m => Number(m[1]))
      expect(limits.length).toBeGreaterThanOrEqual(2)
      // The trim's collection and the one after it.
      return limits.slice(-2)
    }
    const flags = launcherV8Flags()
    expect(flags).toContain('--expose-gc')
    for (const limit of limitsAfterTrim(flags)) expect(limit).toBeGreaterThanOrEqual(128 * MiB)
    // The same process without that one flag: the limit falls with the heap.
    const without = limitsAfterTrim(flags.filter(f => !f.startsWith('--initial-old-space-size')))
    expect(Math.min(...without)).toBeLessThan(64 * MiB)
  })
})

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
