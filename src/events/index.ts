/**
 * Events: the durable, mesh-wide record of every webhook, cron fire and message, and the
 * machinery that runs each event's actions once across the mesh. The pure webhook core
 * (signatures, parsing, routing, cron times) lives in src/webhooks; this module stores,
 * deduplicates, replicates and acts.
 */
export { createEventService } from './service.ts'
export type { EventService, EventServiceComponents, EventServiceInit, IngestInput, IngestOptions, IngestResult, ListOptions, EventsHealth, WebhooksHealth } from './service.ts'
export { eventsConfigSchema } from './config.ts'
export type { EventsConfig, EventsConfigInput } from './config.ts'
export { EVENT_ERRORS, eventError } from './errors.ts'
export type { EventErrorCode } from './errors.ts'
export { eventRoutes } from './routes.ts'
export { registerEventMetrics } from './metrics.ts'
export { queuedTaskSink, actionId } from './actions.ts'
export type { TaskSink, TaskSpec, CheckpointPoster, ActionContext } from './actions.ts'
export { eventKey, splitKey, ownerOf, rank, pickState, mergeActions } from './record.ts'
export type { EventRecord, EventBase, EventInfo, ActionState, ActionStateName } from './record.ts'
export { MESSAGE_SOURCE, PRIORITIES, messageInputSchema } from './messages.ts'
export type { Message, MessageInput, Priority } from './messages.ts'
export type { EventView, EventSummary, ActionView, EventStatus } from './view.ts'
export { EVENTS_TOPIC, SYNC_PROTOCOL as EVENTS_SYNC_PROTOCOL, PUSH_PROTOCOL as EVENTS_PUSH_PROTOCOL } from './wire.ts'
