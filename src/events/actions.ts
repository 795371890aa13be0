import { createHash } from 'node:crypto'
import type { CheckpointService } from '../checkpoints/service-types.ts'
import type { Logger } from '../logger.ts'
import type { Action, WebhooksConfig } from '../webhooks/index.ts'
import { runCommand } from './command.ts'
import type { EventRecord } from './record.ts'

/** What an action runner knows about the run it is asked for. */
export interface ActionContext {
  key: string
  index: number
  record: EventRecord
  /**
   * True when an earlier claim on this action was taken over (its node died or restarted): the
   * action may have run partly, so an idempotent runner looks for its earlier result first.
   */
  retry: boolean
  signal: AbortSignal
}

/** A task as the tasks module will receive it; the id is deterministic (event key + action). */
export interface TaskSpec {
  id: string
  eventKey: string
  source: string
  eventId: string
  prompt: string
  repo?: string
  conversation?: string
  branch?: string
}

/**
 * Where `task` actions go. The composition root provides it; until the tasks module exists the
 * default records the task as queued in the event's outcome. `submit` must be idempotent by
 * `task.id`: it may be called again for the same task after a takeover.
 */
export interface TaskSink {
  submit: (task: TaskSpec, options: { signal: AbortSignal }) => Promise<Record<string, unknown>>
}

export const queuedTaskSink: TaskSink = {
  async submit (task) {
    return { status: 'queued', task }
  }
}

/** The part of the checkpoint service the `checkpoint` action uses. */
export type CheckpointPoster = Pick<CheckpointService, 'post' | 'history'>

export interface ActionRunnerComponents {
  checkpoints?: CheckpointPoster
  tasks?: TaskSink
  logger: Logger
}

export interface ActionRunnerInit {
  /** argv[0] values `command` actions may run, and the argvs configured in rules and defaults. */
  commands: Pick<WebhooksConfig, 'commands' | 'rules' | 'defaults'>
  /** Stdout kept of a command, bytes. */
  commandOutputMaxBytes: number
  /** This node's peer ID, passed to commands. */
  peerId: string
}

export interface ActionRunner {
  /** Resolves with the action's result; throws (with a message for the outcome) when it failed. */
  run: (action: Action, ctx: ActionContext) => Promise<unknown>
}

/** Clear-text metadata keys that tie a checkpoint to the event action that posted it. */
const META_EVENT = 'idlemesh.event'
const META_ACTION = 'idlemesh.action'
/** How far back an idempotent retry looks for a checkpoint it may have posted already. */
const RETRY_HISTORY = 200
const LABEL_MAX = 256

/** A deterministic id for what an action creates: the same on every node and every retry. */
export function actionId (key: string, index: number): string {
  return createHash('sha256').update(key).update('#').update(String(index)).digest('hex').slice(0, 32)
}

export function createActionRunner (components: ActionRunnerComponents, init: ActionRunnerInit): ActionRunner {
  const log = components.logger.child({ module: 'event-actions' })
  const tasks = components.tasks ?? queuedTaskSink
  const allowed = new Set(init.commands.commands.allowed)
  // A record may come from another node's routing: only an argv this node's own config names
  // (in a rule or a default) runs here, so a peer cannot make this node run anything else.
  const configured = new Set<string>()
  const addArgvs = (actions: Action[] | undefined): void => {
    for (const a of actions ?? []) if (a.kind === 'command') configured.add(JSON.stringify(a.argv))
  }
  for (const rule of init.commands.rules) addArgvs(rule.actions)
  for (const actions of Object.values(init.commands.defaults)) addArgvs(actions)

  return {
    async run (action, ctx) {
      const { base } = ctx.record
      switch (action.kind) {
        case 'noop':
          return null
        case 'checkpoint': {
          if (components.checkpoints === undefined) throw new Error('this node has no checkpoint service')
          if (ctx.retry) {
            const earlier = (await components.checkpoints.history(action.stream, { limit: RETRY_HISTORY }).catch(() => []))
              .find(c => c.meta.user?.[META_EVENT] === ctx.key && c.meta.user?.[META_ACTION] === String(ctx.index))
            if (earlier !== undefined) return { checkpoint: earlier.id, stream: earlier.stream, seq: earlier.seq, reused: true }
          }
          const payload = {
            kind: 'idlemesh.event',
            event: { source: base.source, id: base.id, ...base.event, receivedAt: new Date(base.receivedAt).toISOString(), receivedBy: base.receivedBy },
            label: action.label ?? null,
            message: action.message ?? null
          }
          const posted = await components.checkpoints.post({
            stream: action.stream,
            payload: Buffer.from(JSON.stringify(payload, null, 2)),
            meta: {
              label: clip(action.label ?? base.event.summary, LABEL_MAX),
              kind: 'event',
              contentType: 'application/json',
              user: { [META_EVENT]: ctx.key, [META_ACTION]: String(ctx.index) }
            },
            signal: ctx.signal
          })
          return { checkpoint: posted.id, stream: posted.stream, seq: posted.seq }
        }
        case 'task': {
          const task: TaskSpec = {
            id: actionId(ctx.key, ctx.index),
            eventKey: ctx.key,
            source: base.source,
            eventId: base.id,
            prompt: action.prompt,
            ...(action.repo === undefined ? {} : { repo: action.repo }),
            ...(action.conversation === undefined ? {} : { conversation: action.conversation }),
            ...(action.branch === undefined ? {} : { branch: action.branch })
          }
          return await tasks.submit(task, { signal: ctx.signal })
        }
        case 'command': {
          const argv = action.argv
          if (!allowed.has(argv[0] ?? '') || !configured.has(JSON.stringify(argv))) {
            throw new Error(`${JSON.stringify(argv)} is not a command this node's config allows (webhooks.commands.allowed and a rule or default naming this argv)`)
          }
          log.info({ key: ctx.key, index: ctx.index, argv0: argv[0] }, 'running command action')
          const stdin = JSON.stringify({
            source: base.source,
            id: base.id,
            event: base.event,
            receivedAt: new Date(base.receivedAt).toISOString(),
            receivedBy: base.receivedBy,
            payload: base.payload,
            action: { index: ctx.index, retry: ctx.retry }
          })
          return await runCommand(argv, {
            stdin,
            timeoutMs: action.timeoutMs,
            maxOutputBytes: init.commandOutputMaxBytes,
            env: commandEnv({ IDLEMESH_EVENT_KEY: ctx.key, IDLEMESH_EVENT_SOURCE: base.source, IDLEMESH_EVENT_ID: base.id, IDLEMESH_EVENT_TYPE: base.event.type, IDLEMESH_PEER_ID: init.peerId }),
            signal: ctx.signal
          })
        }
      }
    }
  }
}

/** Variables a command inherits: enough to find programs and write files, never this node's secrets. */
const INHERITED_ENV = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']

function commandEnv (extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const name of INHERITED_ENV) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return { ...env, ...extra }
}

function clip (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
