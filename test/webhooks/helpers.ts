import { createRequire } from 'node:module'
import { expect } from 'vitest'
import type { WebhookDefinition } from '@octokit/webhooks-examples'
import { isIdlemeshError } from '../../src/errors.ts'
import type { WebhookErrorCode } from '../../src/webhooks/index.ts'
import { WEBHOOK_ERRORS } from '../../src/webhooks/index.ts'

/** Asserts that `fn` throws the IdlemeshError `code` with its registered status. */
export function expectWebhookError (fn: () => unknown, code: WebhookErrorCode): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(isIdlemeshError(thrown), `expected ${code}, got ${String(thrown)}`).toBe(true)
  expect(thrown).toMatchObject({ code, status: WEBHOOK_ERRORS[code] })
}

// The package's entry point is a JSON file, which require reads on any runtime.
const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[]

// any: published payloads are arbitrary JSON that tests read and alter field by field.
export type Payload = Record<string, any>

/**
 * A deep copy of the first real payload GitHub published for `event` that passes `pick`, so a test
 * can alter it without touching the others.
 */
export function githubExample (event: string, pick: (payload: Payload) => boolean = () => true): Payload {
  const definition = definitions.find(d => d.name === event)
  const example = (definition?.examples as Payload[] | undefined)?.find(pick)
  if (example === undefined) throw new Error(`no published example of ${event} fits`)
  return structuredClone(example)
}
