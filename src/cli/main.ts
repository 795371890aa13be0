import { Command, CommanderError, Option } from 'commander'
import { isIdlemeshError } from '../errors.ts'
import { VERSION } from '../version.ts'
import { registerInit } from './commands/init.ts'
import { registerStart } from './commands/start.ts'
import { registerHealth } from './commands/health.ts'
import { registerSecret } from './commands/secret.ts'
import { registerCheckpoint } from './commands/checkpoint.ts'
import { registerStreams } from './commands/streams.ts'
import { registerTasks } from './commands/tasks.ts'
import { registerCost } from './commands/cost.ts'
import { registerDrain } from './commands/drain.ts'
import { registerEvents } from './commands/events.ts'
import { registerMessages } from './commands/messages.ts'

export function buildProgram (): Command {
  const program = new Command('idlemesh')
    .description('Turn idle servers into one mesh: webhooks, checkpoints and Claude Code tasks over libp2p')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => { write(text.split('\n')[0] + '\n') } })
  registerInit(program)
  registerStart(program)
  registerHealth(program)
  registerSecret(program)
  registerCheckpoint(program)
  registerStreams(program)
  registerTasks(program)
  registerCost(program)
  registerDrain(program)
  registerEvents(program)
  registerMessages(program)
  return program
}

export { Option }

/** Runs the CLI; every failure becomes one line on stderr and a non-zero exit code. */
export async function main (argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv, { from: 'user' })
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; they already printed what they had to.
      return err.exitCode === 0 ? 0 : 2
    }
    if (isIdlemeshError(err)) {
      process.stderr.write(`idlemesh: ${err.message}\n`)
      return 1
    }
    process.stderr.write(`idlemesh: unexpected error: ${(err as Error).message ?? String(err)}\n`)
    return 1
  }
}

/** Runs the CLI on this process's arguments and exits, except while `start` keeps a node running. */
export async function runCli (): Promise<void> {
  const code = await main(process.argv.slice(2))
  if (code === 0 && process.argv[2] === 'start') return
  // Writes to a pipe complete asynchronously: exiting at once dropped the tail of a large
  // `checkpoint get` (the last ~40 KB of 300 KB, about one run in five). An empty write's
  // callback runs once everything written before it has gone out.
  await Promise.all([process.stdout, process.stderr].map(async (stream) => {
    await new Promise<void>((resolve) => { stream.write('', () => { resolve() }) })
  }))
  process.exit(code)
}

if (import.meta.main) await runCli()
