/** What runs when the config names no command: the CLI headless, one JSON message per line. */
export const DEFAULT_COMMAND = ['claude', '-p', '--output-format', 'stream-json', '--verbose']

/** Every child gets these from the node's environment, and nothing else unless passed through. */
export const BASE_ENV = ['PATH', 'HOME', 'LANG']

/** The variables Claude Code reads for credentials, provider choice, proxies and quiet mode. */
export const DEFAULT_ENV_PASS_THROUGH = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'ANTHROPIC_BASE_URL',
  'ANTHROPIC_MODEL',
  'CLAUDE_CODE_USE_BEDROCK',
  'CLAUDE_CODE_USE_VERTEX',
  'AWS_REGION',
  'AWS_PROFILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'ANTHROPIC_VERTEX_PROJECT_ID',
  'CLOUD_ML_REGION',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'HTTPS_PROXY',
  'HTTP_PROXY',
  'NO_PROXY',
  'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC',
  'DISABLE_TELEMETRY',
  'DISABLE_AUTOUPDATER',
  'DISABLE_ERROR_REPORTING'
]

export const TIMEOUT_MS = 30 * 60_000 // 30 min of wall clock per run
// A single tool call (a build, a test suite) can be silent for minutes; a turn that says nothing
// for longer than this is stuck.
export const IDLE_TIMEOUT_MS = 10 * 60_000 // 10 min
export const EXIT_GRACE_MS = 10_000 // 10 s for output to close after the result line or the exit
export const KILL_GRACE_MS = 5_000 // 5 s between SIGTERM and SIGKILL to the process group
export const CONCURRENCY = 1 // runs at once on this node
export const MAX_CAPTURE_CHARS = 1024 * 1024 // 1 Mi characters kept of raw stdout, and of stderr
// A stream-json line carries whole tool results (a file read, a command's output); beyond this
// the line is cut into raw pieces rather than held in memory.
export const MAX_LINE_CHARS = 16 * 1024 * 1024 // 16 Mi characters
