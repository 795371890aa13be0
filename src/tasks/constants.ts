/** Defaults of the task service; the config schema repeats them with their units. */

export const TASK_TOPIC = 'idlemesh/tasks/1'
/** Offers, lease renewals, cancels and log reads: one request frame, one response frame. */
export const RPC_PROTOCOL = '/idlemesh/tasks/rpc/1.0.0'
/** Anti-entropy: the asker sends digests, the answerer streams the records that differ. */
export const SYNC_PROTOCOL = '/idlemesh/tasks/sync/1.0.0'
export const WIRE_VERSION = 1

export const CAPACITY = 2 // tasks at once on this node
// A runner renews every LEASE_MS / RENEWALS_PER_LEASE; three lost renewals in a row are needed
// before it gives the run up.
export const LEASE_MS = 20_000 // 20 s
export const RENEWALS_PER_LEASE = 4
export const OFFER_TIMEOUT_MS = 5_000 // 5 s for a target to answer an offer
export const MAX_ATTEMPTS = 3 // attempts before a task is dead-lettered
export const RETRY_BACKOFF_MS = 5_000 // 5 s before the 2nd attempt, doubling after each failure
export const RETRY_BACKOFF_MAX_MS = 5 * 60_000 // 5 min cap of the backoff
export const SYNC_INTERVAL_MS = 30_000 // 30 s between anti-entropy rounds (and on every new connection)
export const RETENTION_MS = 7 * 24 * 3600_000 // 7 days a finished task is kept
export const KILL_GRACE_MS = 5_000 // SIGTERM → SIGKILL, the runner's default
/** How often the scheduler looks at leases, retries and queued tasks, at most. */
export const TICK_MS = 250

export const MAX_PROMPT_CHARS = 256 * 1024 // 256 Ki characters of prompt
export const MAX_RESULT_CHARS = 64 * 1024 // of a result text kept in the record (the log has it all)
export const MAX_TAIL_CHARS = 16 * 1024 // of raw output and stderr kept in the record
export const MAX_LOG_LINE_CHARS = 1024 * 1024 // one stored log line
export const MAX_LOG_CHARS_PER_ATTEMPT = 32 * 1024 * 1024 // 32 Mi characters of log per attempt
export const MAX_WIRE_BYTES = 8 * 1024 * 1024 // one RPC or sync frame
export const GOSSIP_BATCH_BYTES = 256 * 1024 // records per gossip message, at most about this
export const SUMMARY_EXCHANGES = 20 // exchanges a conversation checkpoint keeps
export const SUMMARY_TEXT_CHARS = 4000 // of each prompt and result in it
