import type { Action, Condition, Rule, WebhooksConfig } from './config.ts'
import { githubRules } from './github-rules.ts'
import { globMatch } from './glob.ts'
import { lookup } from './paths.ts'
import type { NormalizedEvent } from './providers.ts'
import { renderTemplate } from './template.ts'

/** An event ready for routing: where it came from, its id, what it is and its payload. */
export interface RouteInput {
  /** The configured source name, or `cron`. */
  source: string
  id: string
  event: NormalizedEvent
  payload: unknown
}

export interface RoutingDecision {
  /** The rule that decided, `default` for the provider's default actions, `none` when nothing applied. */
  rule: string
  /** Actions with every template rendered; empty when skipped. */
  actions: Action[]
  /** Why nothing is done, when the rule skips the event or an action could not be rendered. */
  skipped?: string
}

export interface Router {
  /** Every rule in the order it is tried, built-in ones included. */
  readonly rules: readonly Rule[]
  route: (input: RouteInput) => RoutingDecision
}

/**
 * Routing is: the first matching rule (by ascending priority, then configured before built-in,
 * then in the order listed), else the provider's `defaults`, else noop. Conditions and templates
 * see `{ event, payload }`, where `event` is the normalized event plus its `id` and `source`.
 */
export function createRouter (config: Pick<WebhooksConfig, 'rules' | 'defaults' | 'github'>): Router {
  const configured = new Set(config.rules.map(rule => rule.name))
  const builtin = githubRules(config.github).filter(rule => !configured.has(rule.name))
  // Array.prototype.sort is stable: equal priorities keep configured-then-built-in, file order.
  const rules = Object.freeze([...config.rules, ...builtin].sort((a, b) => a.priority - b.priority))

  return {
    rules,
    route (input) {
      const scope = { event: { id: input.id, source: input.source, ...input.event }, payload: input.payload }
      for (const rule of rules) {
        if (!matches(rule, input, scope)) continue
        if (rule.skip !== undefined) return { rule: rule.name, actions: [], skipped: rule.skip }
        return render(rule.name, rule.actions, scope)
      }
      const fallback = config.defaults[input.event.provider]
      if (fallback !== undefined) return render('default', fallback, scope)
      return { rule: 'none', actions: [{ kind: 'noop' }] }
    }
  }
}

function matches (rule: Rule, input: RouteInput, scope: unknown): boolean {
  const { source, provider, type, where } = rule.match
  if (source !== undefined && source !== input.source) return false
  if (provider !== undefined && provider !== input.event.provider) return false
  if (type !== undefined && !(Array.isArray(type) ? type : [type]).some(glob => globMatch(glob, input.event.type))) return false
  return where.every(condition => holds(condition, lookup(scope, condition.path)))
}

function holds (condition: Condition, value: unknown): boolean {
  if ('exists' in condition) return (value !== undefined && value !== null) === condition.exists
  if ('equals' in condition) return value === condition.equals
  if ('oneOf' in condition) return condition.oneOf.some(candidate => candidate === value)
  // A glob tests text: numbers and booleans in their usual form, never objects.
  const text = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined
  return text !== undefined && globMatch(condition.glob, text)
}

function render (rule: string, actions: Action[], scope: unknown): RoutingDecision {
  const rendered: Action[] = []
  for (const [index, action] of actions.entries()) {
    const result = renderAction(action, scope)
    if (typeof result === 'string') return { rule, actions: [], skipped: `action ${index + 1} (${action.kind}): ${result}` }
    rendered.push(result)
  }
  return { rule, actions: rendered }
}

/** The rendered action, or why it cannot be carried out. */
function renderAction (action: Action, scope: unknown): Action | string {
  switch (action.kind) {
    case 'noop':
    case 'command':
      return action
    case 'checkpoint': {
      const stream = renderTemplate(action.stream, scope).trim()
      if (stream === '') return 'stream rendered empty'
      return { kind: 'checkpoint', stream, ...optional({ label: action.label, message: action.message }, scope) }
    }
    case 'task': {
      const prompt = renderTemplate(action.prompt, scope)
      if (prompt.trim() === '') return 'prompt rendered empty'
      return { kind: 'task', prompt, ...optional({ repo: action.repo, conversation: action.conversation, branch: action.branch }, scope) }
    }
  }
}

/**
 * Renders optional fields, leaving out those absent or rendered blank: a consumer sees "no repo",
 * never an empty one, and encoders that refuse undefined (DAG-CBOR) get none.
 */
function optional<K extends string> (fields: Record<K, string | undefined>, scope: unknown): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {}
  for (const [key, template] of Object.entries(fields) as Array<[K, string | undefined]>) {
    if (template === undefined) continue
    const value = renderTemplate(template, scope).trim()
    if (value !== '') out[key] = value
  }
  return out
}
