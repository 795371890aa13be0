import { lookup } from './paths.ts'

// The same grammar as PATH_PATTERN, between `{{` and `}}` with optional spaces.
const PLACEHOLDER = /\{\{\s*([\w$-]+(?:\.[\w$-]+)*)\s*\}\}/g

/**
 * Renders `{{ path.to.field }}` placeholders from `scope`. There is no other syntax and nothing is
 * evaluated: a missing field (or null) renders as the empty string, a string as itself, a number
 * or boolean in its usual form, an object or array as JSON. The text a placeholder produces is
 * never rendered again, so a payload cannot smuggle placeholders of its own.
 */
export function renderTemplate (template: string, scope: unknown): string {
  return template.replace(PLACEHOLDER, (_placeholder, path: string) => show(lookup(scope, path)))
}

/** Why `template` is not a valid template (for config validation), or undefined when it is. */
export function templateProblem (template: string): string | undefined {
  if (!template.replace(PLACEHOLDER, '').includes('{{')) return undefined
  return 'a `{{ … }}` placeholder must hold only a dotted path, such as {{ payload.issue.title }}'
}

function show (value: unknown): string {
  if (value === undefined || value === null) return ''
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return JSON.stringify(value)
}
