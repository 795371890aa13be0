import { fileURLToPath } from 'node:url'
import type { Logger } from '../logger.ts'
import { createRunner, type RunnerInit } from '../runner/index.ts'
import type { RunnerFor } from './executor.ts'

/** The script that keeps a run from outliving its node (see orphan-guard.mjs). */
export const ORPHAN_GUARD = fileURLToPath(new URL('./orphan-guard.mjs', import.meta.url))

export interface RunnerFactoryInit extends Omit<RunnerInit, 'concurrency' | 'whenFull' | 'maxBudgetUsd'> {
  /** Wrap every run in the orphan guard. @default true */
  orphanGuard?: boolean
}

/**
 * One runner per task: the task's model, turn limit and budget become its flags. The node's
 * capacity is enforced by the task executor's admission, so each runner has a single slot.
 */
export function createRunnerFactory (components: { logger: Logger }, init: RunnerFactoryInit): RunnerFor {
  const { orphanGuard = true, command, ...rest } = init
  const base = command ?? ['claude', '-p', '--output-format', 'stream-json', '--verbose']
  const argv = orphanGuard ? [process.execPath, ORPHAN_GUARD, String(init.killGraceMs ?? 5000), '--', ...base] : base
  return (spec) => createRunner(components, {
    ...rest,
    command: argv,
    ...(spec.model === undefined ? {} : { model: spec.model }),
    ...(spec.maxTurns === undefined ? {} : { maxTurns: spec.maxTurns }),
    ...(spec.maxBudgetUsd === undefined ? {} : { maxBudgetUsd: spec.maxBudgetUsd }),
    concurrency: 1
  })
}
