import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { cronConfigSchema, webhooksConfigSchema } from '../webhooks/config.ts'
import { eventsConfigSchema } from '../events/config.ts'
import { MAX_CHUNK_BYTES } from '../checkpoints/wire.ts'

/**
 * The node's configuration: every field has a default, so a node runs with no file at all.
 * Units are in the names (…Ms, …Bytes) and repeated in the comments.
 */
const multiaddrString = z.string().refine(value => {
  try {
    multiaddr(value)
    return true
  } catch {
    return false
  }
}, 'expected a multiaddr such as /ip4/10.0.0.2/tcp/7700 (peers: …/p2p/<peer ID>)')

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:7701')

export const configSchema = z.object({
  /** libp2p listen addresses. */
  listen: z.array(multiaddrString).default(['/ip4/0.0.0.0/tcp/7700']),
  /** Addresses announced to peers instead of the listen addresses (e.g. a public IP). */
  announce: z.array(multiaddrString).default([]),
  /** Peers dialled at start and re-dialled until they answer. */
  bootstrap: z.array(multiaddrString).default([]),
  /** When non-empty, only these peer IDs may connect, even with the mesh secret. */
  allowlist: z.array(z.string().min(1)).default([]),
  http: z.object({
    /** Local HTTP API bind address. Anything but loopback requires `token`. */
    listen: hostPort.default('127.0.0.1:7701'),
    /** Bearer token for every non-webhook route; required when `listen` is not loopback. */
    token: z.string().min(16, 'an API token has at least 16 characters').optional()
  }).prefault({}),
  membership: z.object({
    /** How often this node gossips its heartbeat and load report: 1 s. */
    heartbeatIntervalMs: z.number().int().min(100).max(60_000).default(1000),
    /** Silence after which a member is `suspect`: 3 s. */
    suspectAfterMs: z.number().int().min(200).default(3000),
    /** Silence after which a member is `dead`: 6 s. */
    deadAfterMs: z.number().int().min(300).default(6000),
    /** A dead or departed member is dropped from the table after this long: 1 h. */
    forgetAfterMs: z.number().int().min(1000).default(3_600_000),
    /** How often RTT is measured to each directly connected member: 5 s. */
    rttIntervalMs: z.number().int().min(100).default(5000)
  }).prefault({}).refine(m => m.suspectAfterMs > m.heartbeatIntervalMs && m.deadAfterMs > m.suspectAfterMs, {
    message: 'expected heartbeatIntervalMs < suspectAfterMs < deadAfterMs'
  }),
  reconnect: z.object({
    /** First retry delay after a lost connection: 250 ms. */
    initialDelayMs: z.number().int().min(10).default(250),
    /** Cap of the exponential backoff: 30 s. */
    maxDelayMs: z.number().int().min(10).default(30_000),
    /** How long one dial may take: 5 s. */
    dialTimeoutMs: z.number().int().min(100).default(5000)
  }).prefault({}),
  checkpoints: z.object({
    /** Largest payload a client may post: 64 MiB. */
    maxPayloadBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
    /** Checkpoints up to this size ride in gossip; larger ones are announced and pulled: 256 KiB. */
    inlineMaxBytes: z.number().int().min(1024).max(1024 * 1024).default(256 * 1024),
    /** Chunk size of the pull path: 1 MiB. Nodes of one mesh may differ; every node reads chunks up to MAX_CHUNK_BYTES. */
    chunkBytes: z.number().int().min(16 * 1024).max(MAX_CHUNK_BYTES).default(1024 * 1024),
    /** How long a post with replicas=N waits for confirmations: 10 s. */
    replicaTimeoutMs: z.number().int().min(100).default(10_000),
    /** How long `latest` asks peers and the DHT before answering: 1.5 s. */
    latestQueryTimeoutMs: z.number().int().min(50).default(1500),
    /** Anti-entropy with every connected peer this often: 10 s (and on every new connection). */
    syncIntervalMs: z.number().int().min(100).default(10_000),
    /** Bound on one heads exchange: 5 s. */
    requestTimeoutMs: z.number().int().min(100).default(5000),
    /** A stream's head goes to the DHT at most this often: 2 s. */
    dhtPublishIntervalMs: z.number().int().min(0).default(2000)
  }).prefault({}),
  tasks: z.object({
    /** How many tasks this node runs at once; 0 runs none (it still coordinates). */
    capacity: z.number().int().min(0).max(1024).default(2),
    runner: z.object({
      /** argv of the Claude Code CLI; the prompt goes to its stdin. */
      command: z.array(z.string().min(1)).min(1).default(['claude', '-p', '--output-format', 'stream-json', '--verbose']),
      /** Passed as --model unless a task names its own. */
      model: z.string().min(1).optional(),
      /** Passed as --max-turns unless a task names its own. */
      maxTurns: z.number().int().min(1).optional(),
      /** Passed as --allowedTools. */
      allowedTools: z.array(z.string().min(1)).default([]),
      /** Variables copied from the node's environment (besides PATH, HOME, LANG); default: the Anthropic, cloud and proxy ones. */
      envPassThrough: z.array(z.string().min(1)).optional(),
      /** Set in every run's environment. */
      env: z.record(z.string(), z.string()).default({}),
      /** Wall-clock limit of one run: 30 min; 0 disables. */
      timeoutMs: z.number().int().min(0).default(30 * 60_000),
      /** Watchdog: no output for this long kills the run: 10 min; 0 disables. */
      idleTimeoutMs: z.number().int().min(0).default(10 * 60_000),
      /** Watchdog: output still open this long after the result line or the exit: 10 s. */
      exitGraceMs: z.number().int().min(100).default(10_000),
      /** SIGTERM → SIGKILL of a run's process group: 5 s. */
      killGraceMs: z.number().int().min(50).default(5000),
      /** Wrap each run in a guard that kills it if the node dies (SIGKILL leaves detached runs behind otherwise). */
      orphanGuard: z.boolean().default(true)
    }).prefault({}),
    workspaces: z.object({
      /** Where task workspaces live: DATA_DIR/workspaces when absent. */
      root: z.string().min(1).optional(),
      /** Clone URL template of issue repositories when a task names no URL. */
      cloneUrl: z.string().min(1).default('https://github.com/{owner}/{repo}.git'),
      /** argv run in an issue workspace after a successful task (push, draft PR); placeholders {owner} {repo} {issue} {branch} {taskId} {dir} {title} {body}. Nothing is published when absent. */
      publish: z.array(z.string().min(1)).min(1).optional(),
      /** Variables git and the publish command get from the node's environment; default GH_TOKEN, GITHUB_TOKEN, SSH_AUTH_SOCK, proxies. */
      envPassThrough: z.array(z.string().min(1)).optional(),
      /** Limit of one git or publish command: 5 min. */
      commandTimeoutMs: z.number().int().min(100).default(5 * 60_000)
    }).prefault({}),
    /** A run whose renewals stop reaching its coordinator for this long is given up and placed again: 20 s. */
    leaseMs: z.number().int().min(200).default(20_000),
    /** How long a node may take to accept or refuse an offer: 5 s. */
    offerTimeoutMs: z.number().int().min(50).default(5000),
    /** Attempts (failures and lost runs) before a task is dead-lettered. */
    maxAttempts: z.number().int().min(1).max(100).default(3),
    /** Wait before the 2nd attempt, doubling after each: 5 s. */
    retryBackoffMs: z.number().int().min(0).default(5000),
    /** Cap of that wait: 5 min. */
    retryBackoffMaxMs: z.number().int().min(0).default(5 * 60_000),
    /** Anti-entropy of task records with every connected peer this often: 30 s (and on every new connection). */
    syncIntervalMs: z.number().int().min(100).default(30_000),
    /** Finished tasks (and their logs) are dropped after this long: 7 days. */
    retentionMs: z.number().int().min(60_000).default(7 * 24 * 3600_000),
    budget: z.object({
      /** Mesh-wide spend per UTC day, USD; new tasks are refused once it is reached. */
      dailyUsd: z.number().positive().optional(),
      /** --max-budget-usd of tasks that name none, USD. */
      taskUsd: z.number().positive().optional()
    }).prefault({})
  }).prefault({}),
  /** Webhook sources, signature secrets, routing rules and commands (see src/webhooks/config.ts). */
  webhooks: webhooksConfigSchema.prefault({}),
  /** Scheduled jobs that enqueue events, each once per mesh per scheduled time. */
  cron: cronConfigSchema.prefault({}),
  /** How events replicate and when actions run (see src/events/config.ts). */
  events: eventsConfigSchema.prefault({}),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
  }).prefault({})
}).strict()

export type Config = z.infer<typeof configSchema>
/** What a config file or the environment may say: any subset of Config. */
export type ConfigInput = z.input<typeof configSchema>
