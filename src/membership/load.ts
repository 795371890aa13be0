import { availableParallelism, freemem, loadavg, totalmem } from 'node:os'
import type { LoadReport } from './wire.ts'

export interface TaskLoad {
  running: number
  capacity: number
  queued: number
  draining: boolean
}

/** This machine's load report: task figures from the caller, the rest from the OS. */
export function machineLoadReport (tasks: TaskLoad): LoadReport {
  return {
    ...tasks,
    load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    cpus: availableParallelism(),
    freeMemBytes: freemem(),
    totalMemBytes: totalmem()
  }
}
