import { performance, type EventLoopUtilization } from 'node:perf_hooks'
import v8 from 'node:v8'
import type { Logger } from '../logger.ts'

/**
 * Gives memory back when the node goes idle.
 *
 * A node runs with a young generation of up to 16 MB per semi-space (bin/idlemesh.mjs): under
 * webhook load that costs ~14 % less CPU per delivery than 2 MB (fewer scavenges, less garbage
 * promoted). But V8 keeps a young generation it has grown, and the old generation's pages, long
 * after the work that grew them is done: started that way, a node of an idle 5-node mesh held
 * ~143 MB for a minute, against ~116 MB with 2 MB. So every `checkIntervalMs`, when the event loop
 * was busy for less than `idleUtilization` of the interval and the heap grew since the last
 * trim, the trimmer runs one full collection of the kind V8 keeps for memory pressure, which
 * also shrinks the young generation back to its minimum. Its pause (a few ms) is taken only when
 * there is nothing else to do; under load the node never trims.
 *
 * The first trim gives back what start-up grew, at the first idle interval. Later ones wait until
 * the node has been idle for `settleMs`: webhooks come in bursts, and a trim in the lull between
 * two costs the next one dearly. V8 then restarts from a small heap and collects the old
 * generation over and over while it grows back (measured: 23 full collections instead of 5 in
 * the 8 s of load that followed a trim, and ~25 % more CPU per delivery on every node). The
 * node's `--initial-old-space-size=128` (bin/idlemesh.mjs) now keeps the old generation's limit
 * through a trim; the young generation still starts again from its minimum.
 */

export interface HeapReading {
  /** Bytes reserved by the young generation (new space). */
  youngBytes: number
  /** Bytes reserved by the whole heap. */
  totalBytes: number
}

export interface IdleTrimmerComponents {
  /** A full collection that gives memory back (see `processMemoryControls`). */
  collect: () => void
  /** Share of the time since the previous call the event loop was busy, 0..1. */
  utilization: () => number
  heap: () => HeapReading
  logger: Logger
}

export interface IdleTrimmerInit {
  /** How often to look: 2 s. */
  checkIntervalMs?: number
  /** Busier than this share of an interval is not idle: 0.05. */
  idleUtilization?: number
  /** A young generation above this has grown: 4 MiB (V8 starts it at 1 MiB). */
  youngTrimBytes?: number
  /** A heap this much larger than after the last trim (or start) has grown: 16 MiB. */
  heapGrowthBytes?: number
  /** After the first trim, how long a node must have been idle before the next: 60 s. */
  settleMs?: number
}

/** What the trimmer knows of the past. */
export interface TrimHistory {
  trims: number
  /** Total heap size right after the last trim (or at start). */
  heapAfterLastTrim: number
  /** How long the event loop has been idle without a break, including the latest interval. */
  idleForMs: number
}

export interface IdleTrimmer {
  start: () => void
  stop: () => void
  /** Collections run so far. */
  readonly trims: number
}

const DEFAULTS: Required<IdleTrimmerInit> = {
  checkIntervalMs: 2000,
  idleUtilization: 0.05,
  youngTrimBytes: 4 * 1024 * 1024,
  heapGrowthBytes: 16 * 1024 * 1024,
  settleMs: 60_000
}

/** True when a node that was this busy, with this heap and this history, should trim now. */
export function shouldTrim (utilization: number, heap: HeapReading, history: TrimHistory, init: Required<IdleTrimmerInit>): boolean {
  if (utilization >= init.idleUtilization) return false
  if (history.trims > 0 && history.idleForMs < init.settleMs) return false
  return heap.youngBytes > init.youngTrimBytes || heap.totalBytes > history.heapAfterLastTrim + init.heapGrowthBytes
}

export function createIdleTrimmer (c: IdleTrimmerComponents, init: IdleTrimmerInit = {}): IdleTrimmer {
  const settings = { ...DEFAULTS, ...init }
  const log = c.logger.child({ module: 'memory' })
  let timer: NodeJS.Timeout | undefined
  const history: TrimHistory = { trims: 0, heapAfterLastTrim: c.heap().totalBytes, idleForMs: 0 }
  let lastCheckAt = performance.now()

  const check = (): void => {
    const utilization = c.utilization()
    const checkedAt = performance.now()
    history.idleForMs = utilization < settings.idleUtilization ? history.idleForMs + (checkedAt - lastCheckAt) : 0
    lastCheckAt = checkedAt
    const before = c.heap()
    if (!shouldTrim(utilization, before, history, settings)) return
    const startedAt = performance.now()
    c.collect()
    history.trims++
    const after = c.heap()
    history.heapAfterLastTrim = after.totalBytes
    log.debug({ ms: Math.round(performance.now() - startedAt), youngBytes: [before.youngBytes, after.youngBytes], heapBytes: [before.totalBytes, after.totalBytes] }, 'idle: heap trimmed')
  }

  return {
    start () {
      if (timer !== undefined) return
      c.utilization()
      lastCheckAt = performance.now()
      timer = setInterval(check, settings.checkIntervalMs)
      timer.unref()
    },
    stop () {
      clearInterval(timer)
      timer = undefined
    },
    get trims () { return history.trims }
  }
}

type ExposedGc = (options?: { type?: 'major' | 'minor', execution?: 'sync' | 'async', flavor?: 'regular' | 'last-resort' }) => void

/**
 * This process's real controls, or undefined when it was started without `--expose-gc` (a node
 * run by a test or embedded in another program leaves its host's heap alone).
 */
export function processMemoryControls (): Omit<IdleTrimmerComponents, 'logger'> | undefined {
  const gc = (globalThis as { gc?: ExposedGc }).gc
  if (typeof gc !== 'function') return undefined
  let previous: EventLoopUtilization = performance.eventLoopUtilization()
  return {
    // 'last-resort' is V8's collection under memory pressure: the one that shrinks the young
    // generation and releases free pages (a 'regular' full GC leaves both as they are).
    collect: () => { gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }) },
    utilization: () => {
      const now = performance.eventLoopUtilization()
      const delta = performance.eventLoopUtilization(now, previous)
      previous = now
      return delta.utilization
    },
    heap: () => {
      let youngBytes = 0
      for (const space of v8.getHeapSpaceStatistics()) {
        if (space.space_name === 'new_space') youngBytes += space.space_size
      }
      return { youngBytes, totalBytes: v8.getHeapStatistics().total_heap_size }
    }
  }
}
