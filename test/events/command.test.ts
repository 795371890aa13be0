import { describe, expect, it } from 'vitest'
import { createActionRunner, type ActionContext } from '../../src/events/actions.ts'
import { runCommand } from '../../src/events/command.ts'
import type { EventRecord } from '../../src/events/index.ts'
import { silentLogger } from '../../src/logger.ts'
import { webhooksConfigSchema } from '../../src/webhooks/index.ts'

const SH = '/bin/sh'
const run = async (script: string, options: { stdin?: string, timeoutMs?: number, env?: Record<string, string> } = {}): Promise<unknown> =>
  await runCommand([SH, '-c', script], { stdin: options.stdin ?? '', timeoutMs: options.timeoutMs ?? 5000, maxOutputBytes: 1024, env: options.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' } })

describe('command actions', () => {
  it('hands the event to stdin and parses JSON from stdout', async () => {
    expect(await run('read line; printf \'{"got":%s}\' "$line"', { stdin: '{"a":1}\n' })).toEqual({ got: { a: 1 } })
  })

  it('keeps output that is not JSON, raw', async () => {
    expect(await run('echo deployed to staging')).toEqual({ raw: 'deployed to staging\n' })
    expect(await run('true')).toBeNull()
  })

  it('fails on a non-zero exit, with the end of stderr', async () => {
    await expect(run('echo "disk full" >&2; exit 3')).rejects.toThrow(/exited with code 3: disk full/)
  })

  it('kills a command that outlives its timeout, with its children', async () => {
    const started = Date.now()
    await expect(run('sleep 30 & sleep 30; wait', { timeoutMs: 300 })).rejects.toThrow(/timed out after 300 ms/)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('runs only an argv this node configured, and without the node\'s secrets in its environment', async () => {
    const config = webhooksConfigSchema.parse({
      commands: { allowed: [SH] },
      rules: [{ name: 'env', match: { type: 'x' }, actions: [{ kind: 'command', argv: [SH, '-c', 'printf \'{"token":"%s","key":"%s"}\' "$IDLEMESH_API_TOKEN" "$IDLEMESH_EVENT_KEY"'] }] }]
    })
    const runner = createActionRunner({ logger: silentLogger() }, { commands: config, commandOutputMaxBytes: 1024, peerId: 'self' })
    const record: EventRecord = {
      base: { v: 1, source: 'gh', id: 'd1', receivedAt: 0, receivedBy: 'self', event: { provider: 'github', type: 'x', summary: 'x' }, payload: {}, decision: { rule: 'env', actions: [] } },
      actions: []
    }
    const ctx: ActionContext = { key: 'gh/d1', index: 0, record, retry: false, signal: new AbortController().signal }
    const previous = process.env.IDLEMESH_API_TOKEN
    process.env.IDLEMESH_API_TOKEN = 'secret-token-value'
    try {
      const configured = config.rules[0]?.actions[0]
      if (configured === undefined) throw new Error('no action')
      expect(await runner.run(configured, ctx)).toEqual({ token: '', key: 'gh/d1' })
      // An argv a peer's record names but this node's config does not: refused.
      await expect(runner.run({ kind: 'command', argv: [SH, '-c', 'echo pwned'], timeoutMs: 1000 }, ctx)).rejects.toThrow(/not a command this node's config allows/)
    } finally {
      if (previous === undefined) delete process.env.IDLEMESH_API_TOKEN
      else process.env.IDLEMESH_API_TOKEN = previous
    }
  })
})
