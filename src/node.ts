import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config/index.ts'
import { IdlemeshError } from './errors.ts'
import type { Logger } from './logger.ts'
import { DATA_FILES, keyFileTooOpen, loadIdentity, loadMeshSecret, swarmKey, type MeshSecret } from './identity/index.ts'
import { createMesh, penaliseInvalidMessages, type Mesh } from './mesh/index.ts'
import { MEMBERSHIP_TOPIC, createMembership, machineLoadReport, type Membership } from './membership/index.ts'
import { createHealth, healthRoutes, type Health } from './health/index.ts'
import { createMetrics, type Metrics } from './metrics/index.ts'
import { buildHttpApp, isLoopbackHost, parseHostPort } from './http/index.ts'
import { openStore, sublevel, type Store } from './store/index.ts'
import { checkpointRoutes } from './checkpoints/routes.ts'
import {
  CHECKPOINT_TOPIC, CheckpointStore, DHT_NAMESPACE, Replicator, createCheckpointService, createKeyring, createSigner,
  headRecordSelector, headRecordValidator, type CheckpointService
} from './checkpoints/index.ts'
import { EVENTS_TOPIC, createEventService, eventRoutes, registerEventMetrics, type EventService } from './events/index.ts'
import { webhookRoutes } from './webhooks/routes.ts'
import { createWorkspaces } from './runner/index.ts'
import { TASK_TOPIC, createRunnerFactory, createTaskService, eventTaskSink, registerTaskMetrics, taskRoutes, type TaskService } from './tasks/index.ts'
import { processAlive, readRuntime, removeRuntime, writeRuntime } from './runtime.ts'
import { VERSION } from './version.ts'

/** Room for an envelope's header and signature around the largest payload. */
const ENVELOPE_HEADROOM_BYTES = 64 * 1024

export interface NodeOptions {
  dataDir: string
  config: Readonly<Config>
  logger: Logger
}

export interface IdlemeshNode {
  readonly peerId: string
  readonly dataDir: string
  readonly config: Readonly<Config>
  readonly httpUrl: string
  readonly mesh: Mesh
  readonly membership: Membership
  readonly health: Health
  readonly metrics: Metrics
  readonly store: Store
  readonly meshSecret: MeshSecret
  readonly http: FastifyInstance
  readonly checkpoints: CheckpointService
  readonly checkpointStore: CheckpointStore
  /** Webhooks, cron fires and messages: stored, replicated, acted on once mesh-wide. */
  readonly events: EventService
  readonly replicator: Replicator
  /** Claude Code tasks placed on the least-loaded node: submit, show, cancel, logs, cost, drain. */
  readonly tasks: TaskService
  multiaddrs: () => string[]
  /** Says goodbye to the mesh, closes everything, removes runtime.json. Safe to call twice. */
  stop: () => Promise<void>
}

/**
 * The composition root: the one place that builds every module and wires them together.
 * Everything that can be refused (keys, secret, config) is checked before anything is started
 * or written, so a refused start leaves the data dir as it was.
 */
export async function startNode (options: NodeOptions): Promise<IdlemeshNode> {
  const { dataDir, config } = options
  const startedAt = Date.now()
  const { host: httpHost, port: httpPort } = parseHostPort(config.http.listen)
  if (!isLoopbackHost(httpHost) && config.http.token === undefined) {
    throw new IdlemeshError('HTTP_TOKEN_REQUIRED', `http.listen is ${config.http.listen}, which is not loopback: set http.token (or IDLEMESH_API_TOKEN) so the API is not open to the network`, { status: 400 })
  }
  const identity = loadIdentity(dataDir)
  const meshSecret = loadMeshSecret(dataDir)
  const logger = options.logger.child({ node: identity.peerId.slice(-8) })
  for (const file of [DATA_FILES.nodeKey, DATA_FILES.meshSecret]) {
    if (keyFileTooOpen(join(dataDir, file))) logger.warn({ file: join(dataDir, file) }, 'key file is readable by group or others: chmod 600 it')
  }
  const previous = readRuntime(dataDir)
  if (previous !== undefined && previous.pid !== process.pid && processAlive(previous.pid)) {
    throw new IdlemeshError('NODE_ALREADY_RUNNING', `a node is already running on ${dataDir} (pid ${previous.pid}, ${previous.httpUrl}); stop it first`, { status: 409 })
  }

  const store = await openStore(join(dataDir, DATA_FILES.store))
  const cleanups: Array<() => Promise<void>> = [async () => { await store.close() }]
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch((err: Error) => { logger.warn({ err: err.message }, 'cleanup step failed') })
  }

  try {
    const keyring = createKeyring(meshSecret.checkpointKeys)
    const signer = createSigner(identity.privateKey.raw)
    const checkpointStore = new CheckpointStore(sublevel(store, 'cp'), logger, { blobDir: join(dataDir, 'blobs') })
    await checkpointStore.open()

    const mesh = createMesh({ logger }, {
      privateKey: identity.privateKey,
      swarmKey: swarmKey(meshSecret),
      listen: config.listen,
      announce: config.announce,
      bootstrap: config.bootstrap,
      allowlist: config.allowlist,
      reconnect: config.reconnect,
      dhtValidators: { [DHT_NAMESPACE]: headRecordValidator },
      dhtSelectors: { [DHT_NAMESPACE]: headRecordSelector },
      gossipsub: penaliseInvalidMessages([MEMBERSHIP_TOPIC, CHECKPOINT_TOPIC, EVENTS_TOPIC, TASK_TOPIC])
    }, identity.peerId)
    await mesh.start()
    cleanups.push(async () => { await mesh.stop() })

    let httpUrl: string | null = null
    let tasks: TaskService | undefined
    const membership = createMembership({ mesh, logger }, {
      ...config.membership,
      version: VERSION,
      httpUrl: () => httpUrl,
      loadReport: () => machineLoadReport(tasks?.load() ?? { running: 0, capacity: config.tasks.capacity, queued: 0, draining: false })
    })
    mesh.setLinkView((a, b) => membership.linked(a, b))

    const members = new Set(config.allowlist)
    const replicator = new Replicator({
      mesh,
      store: checkpointStore,
      keyring,
      logger,
      // Decrypting under the mesh key already proves the author held the mesh secret; an
      // allowlist narrows authorship further to the listed nodes.
      isMember: (peerId) => members.size === 0 || members.has(peerId) || peerId === identity.peerId
    }, { ...config.checkpoints, maxEnvelopeBytes: config.checkpoints.maxPayloadBytes + ENVELOPE_HEADROOM_BYTES })
    replicator.start()
    cleanups.push(async () => { replicator.stop() })
    const checkpoints = createCheckpointService({ mesh, membership, store: checkpointStore, replicator, keyring, signer, logger }, config.checkpoints)
    cleanups.push(async () => { checkpoints.stop(); await checkpointStore.flush() })

    // ---- tasks: placement, leases, runner (src/tasks) ----
    const t = config.tasks
    const taskService = createTaskService({
      mesh,
      membership,
      logger,
      checkpoints,
      records: sublevel(store, 'tasks'),
      logs: sublevel(store, 'tasklog'),
      sessions: sublevel(store, 'tasksess'),
      runnerFor: createRunnerFactory({ logger }, {
        command: t.runner.command,
        allowedTools: t.runner.allowedTools,
        env: t.runner.env,
        timeoutMs: t.runner.timeoutMs,
        idleTimeoutMs: t.runner.idleTimeoutMs,
        exitGraceMs: t.runner.exitGraceMs,
        killGraceMs: t.runner.killGraceMs,
        orphanGuard: t.runner.orphanGuard,
        ...(t.runner.model === undefined ? {} : { model: t.runner.model }),
        ...(t.runner.maxTurns === undefined ? {} : { maxTurns: t.runner.maxTurns }),
        ...(t.runner.envPassThrough === undefined ? {} : { envPassThrough: t.runner.envPassThrough })
      }),
      workspaces: createWorkspaces({ logger }, {
        root: t.workspaces.root ?? join(dataDir, 'workspaces'),
        cloneUrl: t.workspaces.cloneUrl,
        commandTimeoutMs: t.workspaces.commandTimeoutMs,
        ...(t.workspaces.publish === undefined ? {} : { publish: t.workspaces.publish }),
        ...(t.workspaces.envPassThrough === undefined ? {} : { envPassThrough: t.workspaces.envPassThrough })
      })
    }, {
      capacity: t.capacity,
      leaseMs: t.leaseMs,
      offerTimeoutMs: t.offerTimeoutMs,
      maxAttempts: t.maxAttempts,
      retryBackoffMs: t.retryBackoffMs,
      retryBackoffMaxMs: t.retryBackoffMaxMs,
      killGraceMs: t.runner.killGraceMs,
      syncIntervalMs: t.syncIntervalMs,
      retentionMs: t.retentionMs,
      // A coordinator this node has never heard of is taken for gone only once membership had
      // time to hear from everyone alive.
      startupGraceMs: 2 * config.membership.deadAfterMs,
      ...(t.budget.dailyUsd === undefined ? {} : { dailyBudgetUsd: t.budget.dailyUsd }),
      ...(t.budget.taskUsd === undefined ? {} : { maxTaskBudgetUsd: t.budget.taskUsd })
    })
    await taskService.start()
    tasks = taskService
    // Stops before the mesh: runs are handed back as lost while gossip still carries it.
    cleanups.push(async () => { await taskService.stop() })
    // ---- end tasks ----

    // ---- events: webhooks, cron, messages (src/events) ----
    const events = createEventService({ mesh, membership, db: sublevel(store, 'ev'), logger, checkpoints, tasks: eventTaskSink(taskService) }, {
      webhooks: config.webhooks,
      cron: config.cron,
      events: config.events,
      expectPeers: config.bootstrap.length > 0
    })
    await events.start()
    cleanups.push(async () => { await events.stop() })
    // ---- end events ----

    const health = createHealth({ mesh, membership }, {
      version: VERSION,
      startedAt,
      httpUrl: () => httpUrl,
      sections: {
        checkpoints: async () => await checkpoints.health(),
        events: () => events.health(),
        webhooks: () => events.webhooksHealth(),
        tasks: () => taskService.health()
      }
    })
    const metrics = createMetrics({ health })
    registerEventMetrics(metrics.registry, events)
    registerTaskMetrics(metrics.registry, taskService)
    const http = buildHttpApp({ logger }, {
      ...(config.http.token === undefined ? {} : { token: config.http.token }),
      bodyLimitBytes: config.checkpoints.maxPayloadBytes,
      routes: [healthRoutes(health), metrics.routes, checkpointRoutes(checkpoints, { maxPayloadBytes: config.checkpoints.maxPayloadBytes }),
        webhookRoutes(events, { config: config.webhooks }), eventRoutes(events), taskRoutes(taskService)]
    })
    await http.listen({ host: httpHost, port: httpPort })
    cleanups.push(async () => { await http.close() })
    const address = http.server.address()
    const boundPort = typeof address === 'object' && address !== null ? address.port : httpPort
    httpUrl = `http://${httpHost.includes(':') ? `[${httpHost}]` : httpHost}:${boundPort}`

    membership.start()
    cleanups.push(async () => { await membership.stop() })

    writeRuntime(dataDir, { peerId: identity.peerId, pid: process.pid, multiaddrs: mesh.multiaddrs(), httpUrl, startedAt: new Date(startedAt).toISOString(), version: VERSION })
    cleanups.splice(1, 0, async () => { removeRuntime(dataDir) })
    logger.info({ peerId: identity.peerId, httpUrl, multiaddrs: mesh.multiaddrs(), startupMs: Date.now() - startedAt }, 'node started')

    let stopping: Promise<void> | undefined
    const finalUrl = httpUrl
    return {
      peerId: identity.peerId,
      dataDir,
      config,
      httpUrl: finalUrl,
      mesh,
      membership,
      health,
      metrics,
      store,
      meshSecret,
      http,
      checkpoints,
      checkpointStore,
      events,
      replicator,
      tasks: taskService,
      multiaddrs: () => mesh.multiaddrs(),
      async stop () {
        stopping ??= (async () => {
          logger.info('node stopping')
          await cleanup()
          logger.info('node stopped')
        })()
        await stopping
      }
    }
  } catch (err) {
    await cleanup()
    throw err
  }
}
