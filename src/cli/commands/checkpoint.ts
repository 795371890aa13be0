import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import { once } from 'node:events'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { IdlemeshError } from '../../errors.ts'
import type { ChainReportJson } from '../../checkpoints/routes.ts'
import type { CheckpointView, PostResult } from '../../checkpoints/service-types.ts'
import { createApiClient, resolveNodeUrl, type NodeTarget } from '../client.ts'
import { formatBytes, renderTable, shortPeerId } from '../format.ts'

/** Above this many bytes, an upload to a terminal shows its progress: 1 MiB. */
const PROGRESS_THRESHOLD_BYTES = 1024 * 1024
/** Redraws of the progress line, at most one per this many ms. */
const PROGRESS_INTERVAL_MS = 100
/** Bound on an upload or a download, ms: large payloads and replicas=N take time. */
const TRANSFER_TIMEOUT_MS = 10 * 60_000
/** Bound on waiting for a node's answer to begin, ms. */
const RESPONSE_TIMEOUT_MS = 30_000
const USER_META_KEY = /^[A-Za-z0-9._-]{1,64}$/

interface TargetOptions extends NodeTarget {
  json?: boolean
}

/** JSON body of GET /checkpoints/latest?format=json and GET /checkpoints/:id?format=json. */
interface PayloadJson {
  checkpoint: CheckpointView
  payload: string
  payloadEncoding: 'base64'
  confirmed?: boolean
  peersAsked?: number
  peersAnswered?: number
  source?: 'local' | 'peer'
}

function withTarget (command: Command): Command {
  return command
    .option('--node <url>', 'HTTP API of the node to ask (default: the node of --data-dir)')
    .option('--data-dir <dir>', 'ask the node running on this data dir')
    .option('--token <token>', 'API token (default: $IDLEMESH_API_TOKEN)')
}

/**
 * The checkpoint modules (dag-cbor, ciphers, signatures) are loaded by the commands that use
 * them, not by every `idlemesh` invocation: importing them costs more than the rest of the CLI.
 */
async function checkStream (stream: string): Promise<string> {
  const { validateStreamName } = await import('../../checkpoints/format.ts')
  return validateStreamName(stream)
}

function parseIntArg (min: number, max: number) {
  return (value: string): number => {
    const n = /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`)
    return n
  }
}

function collectMeta (value: string, previous: Array<[string, string]>): Array<[string, string]> {
  const at = value.indexOf('=')
  const key = at < 0 ? '' : value.slice(0, at)
  if (!USER_META_KEY.test(key)) throw new InvalidArgumentError(`expected key=value with a key of 1-64 characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(value)}`)
  return [...previous, [key.toLowerCase(), value.slice(at + 1)]]
}

function query (params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== false) search.set(key, value === true ? '1' : String(value))
  }
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}

/**
 * Usage errors too become one `idlemesh: ` line, like every other failure of these commands:
 * the hint to run --help joins that line instead of following it.
 */
export function oneLineErrors (command: Command): Command {
  return command
    .showHelpAfterError(false)
    .configureOutput({
      outputError: (text, write) => { write(`idlemesh: ${(text.split('\n')[0] ?? '').replace(/^error: /, '')} (see --help)\n`) }
    })
}

export function registerCheckpoint (program: Command): void {
  // Subcommands inherit the output settings of the command they are created from.
  const checkpoint = oneLineErrors(program.command('checkpoint')
    .description('post and read encrypted, signed checkpoints of a stream'))

  withTarget(checkpoint.command('post')
    .description('post a payload (a file, or stdin) or a git handoff as the next checkpoint of a stream')
    .argument('[file]', 'payload file; - or nothing reads stdin')
    .option('--stream <name>', 'stream to post to (default: default, or owner/repo with --from-git)')
    .option('--file <file>', 'payload file; - reads stdin')
    .option('--from-git <dir>', 'post a handoff built from this git repository (branch, HEAD, status, commits, diff stat, TODOs)')
    .option('--message <text>', 'with --from-git: what you were doing and what comes next')
    .option('--meta <key=value>', 'clear-text metadata, repeatable; keys are stored lower-case (never put secrets here)', collectMeta, [])
    .option('--label <label>', 'clear-text label (never put secrets here)')
    .option('--kind <kind>', 'clear-text kind of payload')
    .option('--content-type <type>', 'content type of the payload (default: application/octet-stream)')
    .option('--replicas <n>', 'acknowledge only once this many other nodes stored a copy', parseIntArg(0, 1_000_000))
    .option('--json', 'print the result as JSON'))
    .action(async (fileArg: string | undefined, opts: TargetOptions & { stream?: string, file?: string, fromGit?: string, message?: string, meta: Array<[string, string]>, label?: string, kind?: string, contentType?: string, replicas?: number }) => {
      if (opts.fromGit !== undefined && (fileArg !== undefined || opts.file !== undefined)) {
        throw new IdlemeshError('CLI_USAGE', '--from-git builds the payload itself: leave out the file', { status: 400 })
      }
      if (opts.message !== undefined && opts.fromGit === undefined) {
        throw new IdlemeshError('CLI_USAGE', '--message goes with --from-git; use --label for other payloads', { status: 400 })
      }
      if (fileArg !== undefined && opts.file !== undefined && fileArg !== opts.file) {
        throw new IdlemeshError('CLI_USAGE', `two payload files given (${fileArg} and --file ${opts.file}): pass one`, { status: 400 })
      }
      let stream = opts.stream === undefined ? undefined : await checkStream(opts.stream)
      const client = createApiClient(opts)
      const headers: Record<string, string> = {}
      let body: Uint8Array | ReadableStream
      let finish = (): void => {}
      if (opts.fromGit !== undefined) {
        const { buildGitHandoff, handoffPayload, streamFromRemote } = await import('../../checkpoints/git-handoff.ts')
        const handoff = await buildGitHandoff(opts.fromGit, opts.message)
        const encoded = handoffPayload(handoff)
        stream ??= (handoff.repo.remote === undefined ? undefined : streamFromRemote(handoff.repo.remote.url)) ?? 'default'
        body = encoded.payload
        headers['content-type'] = encoded.contentType
        headers['x-checkpoint-kind'] = encodeURIComponent(encoded.kind)
        headers['x-checkpoint-label'] = encodeURIComponent(encoded.label)
      } else {
        const upload = await openPayload(opts.file ?? fileArg ?? '-')
        body = upload.body
        finish = upload.finish
        headers['content-type'] = opts.contentType ?? 'application/octet-stream'
      }
      if (opts.label !== undefined) headers['x-checkpoint-label'] = encodeURIComponent(opts.label)
      if (opts.kind !== undefined) headers['x-checkpoint-kind'] = encodeURIComponent(opts.kind)
      if (opts.contentType !== undefined) headers['content-type'] = opts.contentType
      for (const [key, value] of opts.meta) headers[`x-checkpoint-meta-${key}`] = encodeURIComponent(value)
      const path = `/checkpoints${query({ stream: stream ?? 'default', replicas: opts.replicas })}`
      let result: PostResult
      try {
        result = (await client.request<PostResult>('POST', path, { body, headers, timeoutMs: TRANSFER_TIMEOUT_MS })).body
      } finally {
        finish()
      }
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n')
        return
      }
      process.stdout.write(renderPosted(result) + '\n')
    })

  withTarget(checkpoint.command('latest')
    .description('print the latest checkpoint of a stream: its payload, or with --json/--handoff a view of it')
    .option('--stream <name>', 'stream to read', 'default')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--json', 'the header and the payload (base64) as JSON')
    .addOption(new Option('--handoff', 'render a handoff (posted with --from-git) as a resume-here summary').conflicts('json'))
    .option('--local', 'answer from this node\'s store only, without asking peers'))
    .action(async (opts: TargetOptions & { stream: string, out?: string, handoff?: boolean, local?: boolean }) => {
      await checkStream(opts.stream)
      const path = `/checkpoints/latest${query({ stream: opts.stream, local: opts.local === true })}`
      await readCheckpoint(opts, path, `latest of ${opts.stream}`)
    })

  withTarget(checkpoint.command('get')
    .description('print one checkpoint by id: its payload, or with --json/--handoff a view of it')
    .argument('<id>', 'checkpoint id (a CID)')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--json', 'the header and the payload (base64) as JSON')
    .addOption(new Option('--handoff', 'render a handoff as a resume-here summary').conflicts('json')))
    .action(async (id: string, opts: TargetOptions & { out?: string, handoff?: boolean }) => {
      await readCheckpoint(opts, `/checkpoints/${encodeURIComponent(id)}`, id)
    })

  withTarget(checkpoint.command('log')
    .description('list a stream\'s checkpoints, newest first')
    .option('--stream <name>', 'stream to list', 'default')
    .option('--limit <n>', 'how many (1-1000)', parseIntArg(1, 1000), 50)
    .option('--before <seq>', 'only checkpoints with a seq below this one', parseIntArg(1, Number.MAX_SAFE_INTEGER))
    .option('--json', 'print the list as JSON'))
    .action(async (opts: TargetOptions & { stream: string, limit: number, before?: number }) => {
      await checkStream(opts.stream)
      const client = createApiClient(opts)
      const { body } = await client.request<{ checkpoints: CheckpointView[] }>('GET', `/checkpoints${query({ stream: opts.stream, limit: opts.limit, before: opts.before })}`)
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(body, null, 2) + '\n')
        return
      }
      if (body.checkpoints.length === 0) {
        process.stdout.write(`no checkpoints in stream ${opts.stream}\n`)
        return
      }
      process.stdout.write(renderLog(body.checkpoints) + '\n')
    })

  withTarget(checkpoint.command('verify')
    .description('check every checkpoint of a stream (ids, signatures, links, seqs); exit 1 on any problem')
    .option('--stream <name>', 'stream to verify', 'default')
    .option('--payloads', 'also decrypt every payload under the mesh keyring')
    .option('--json', 'print the report as JSON'))
    .action(async (opts: TargetOptions & { stream: string, payloads?: boolean }) => {
      await checkStream(opts.stream)
      const client = createApiClient(opts)
      const { body } = await client.request<ChainReportJson>('GET', `/checkpoints/verify${query({ stream: opts.stream, ...(opts.payloads === true ? { payloads: '1' } : {}) })}`)
      process.stdout.write(opts.json === true ? JSON.stringify(body, null, 2) + '\n' : renderReport(opts.stream, body) + '\n')
      if (!body.ok) {
        const first = body.firstBroken ?? body.problems[0]
        const where = first === undefined ? '' : `: first broken link at ${first.id}${first.parent === undefined ? '' : ` -> ${first.parent}`} (${first.reason}: ${first.detail})`
        throw new IdlemeshError('CHECKPOINT_CHAIN_BROKEN', `stream ${opts.stream} does not verify${where}`, { status: 409 })
      }
    })
}

/** The payload as an upload body, counting bytes on a terminal when it is large. */
async function openPayload (file: string): Promise<{ body: ReadableStream, finish: () => void }> {
  let source: Readable
  let total: number | undefined
  if (file === '-') {
    if (process.stdin.isTTY) {
      throw new IdlemeshError('CLI_USAGE', 'no payload: pass a file (or --file F), or pipe the payload on stdin', { status: 400 })
    }
    source = process.stdin
  } else {
    const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw new IdlemeshError('CLI_FILE', `cannot read ${file}: ${err.code ?? err.message}`, { status: 400, cause: err })
    })
    if (!info.isFile()) throw new IdlemeshError('CLI_FILE', `cannot read ${file}: not a regular file`, { status: 400 })
    total = info.size
    source = createReadStream(file)
  }
  const progress = process.stderr.isTTY ? progressMeter(total) : undefined
  const counted = progress === undefined ? source : source.pipe(progress.transform)
  // Errors of the source (an unreadable file) must reach the upload, not vanish in pipe().
  if (counted !== source) source.once('error', (err) => { counted.destroy(err) })
  return { body: Readable.toWeb(counted) as ReadableStream, finish: () => { progress?.done() } }
}

function progressMeter (total: number | undefined): { transform: Transform, done: () => void } {
  let sent = 0
  let last = 0
  let shown = false
  const draw = (): void => {
    const of = total === undefined ? '' : ` / ${formatBytes(total)} (${total === 0 ? 100 : Math.floor((sent / total) * 100)}%)`
    process.stderr.write(`\ruploading ${formatBytes(sent)}${of}\x1b[K`)
    shown = true
  }
  const transform = new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      sent += chunk.length
      const large = (total ?? sent) > PROGRESS_THRESHOLD_BYTES
      const now = Date.now()
      if (large && now - last >= PROGRESS_INTERVAL_MS) { last = now; draw() }
      callback(null, chunk)
    },
    flush (callback) {
      if (shown) draw()
      callback()
    }
  })
  return { transform, done: () => { if (shown) process.stderr.write('\n') } }
}

function renderPosted (result: PostResult): string {
  const confirmed = result.confirmedBy.length === 0
    ? 'no other node (no replicas asked for)'
    : `${result.confirmedBy.length} other node${result.confirmedBy.length === 1 ? '' : 's'}: ${result.confirmedBy.join(', ')}`
  return [
    `posted checkpoint ${result.seq} of stream ${result.stream}`,
    `  id            ${result.id}`,
    `  seq           ${result.seq}`,
    `  parents       ${result.parents.length === 0 ? '(none: the first of the stream)' : result.parents.join(', ')}`,
    `  confirmed by  ${confirmed}`
  ].join('\n')
}

/** Control characters out of clear metadata, which any mesh member may have written. */
function printable (text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?')
}

function isoTime (ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')
}

function renderLog (checkpoints: CheckpointView[]): string {
  const rows = checkpoints.map(c => [
    String(c.seq),
    c.id,
    isoTime(c.time),
    shortPeerId(c.author),
    printable([c.meta.label, c.meta.kind === undefined ? undefined : `(${c.meta.kind})`].filter(s => s !== undefined).join(' ') || '-'),
    c.meta.size === undefined ? '-' : formatBytes(c.meta.size)
  ])
  return renderTable(['SEQ', 'ID', 'TIME', 'AUTHOR', 'LABEL (KIND)', 'SIZE'], rows)
}

function renderReport (stream: string, report: ChainReportJson): string {
  if (report.ok) return `stream ${stream}: ok, ${report.checked} checkpoint${report.checked === 1 ? '' : 's'} checked`
  const lines = [`stream ${stream}: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${report.checked} checkpoints checked (earliest first)`]
  for (const p of report.problems) {
    lines.push(`  ${p.id}  ${p.reason}${p.parent === undefined ? '' : ` (parent ${p.parent})`}: ${printable(p.detail)}`)
  }
  return lines.join('\n')
}

async function readCheckpoint (opts: TargetOptions & { out?: string, handoff?: boolean }, path: string, what: string): Promise<void> {
  if (opts.json === true || opts.handoff === true) {
    const client = createApiClient(opts)
    const { body } = await client.request<PayloadJson>('GET', `${path}${path.includes('?') ? '&' : '?'}format=json`)
    let text: string
    if (opts.handoff === true) {
      const { parseHandoff, renderHandoff } = await import('../../checkpoints/handoff-render.ts')
      const payload = new Uint8Array(Buffer.from(body.payload, 'base64'))
      text = renderHandoff(parseHandoff(payload, body.checkpoint), body.checkpoint)
    } else {
      text = JSON.stringify(body, null, 2) + '\n'
    }
    await writeOut(opts.out, Readable.from([Buffer.from(text)]))
    return
  }
  const response = await fetchRaw(opts, path)
  if (response.body === null) throw new IdlemeshError('HTTP_ERROR', `the node sent no payload for ${what}`, { status: 502 })
  const written = await writeOut(opts.out, Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>))
  if (opts.out !== undefined) process.stdout.write(renderWritten(response.headers, opts.out, written) + '\n')
}

function renderWritten (headers: Headers, out: string, bytes: number): string {
  const line = `wrote ${formatBytes(bytes)} to ${out}: checkpoint ${headers.get('x-checkpoint-seq') ?? '?'} of stream ${headers.get('x-checkpoint-stream') ?? '?'}, id ${headers.get('x-checkpoint-id') ?? '?'}`
  const confirmed = headers.get('x-checkpoint-confirmed')
  if (confirmed === null) return line
  const asked = headers.get('x-checkpoint-peers-asked') ?? '0'
  const answered = headers.get('x-checkpoint-peers-answered') ?? '0'
  const from = headers.get('x-checkpoint-source') === 'peer' ? 'fetched from a peer' : 'from this node'
  return `${line}\n  ${confirmed === 'true' ? 'confirmed latest' : 'not confirmed as the latest'} (${answered} of ${asked} peers answered; ${from})`
}

/**
 * Writes to `out` through a temporary file renamed at the end, so a failed download never
 * leaves a truncated file under the name asked for; to stdout when `out` is absent.
 */
async function writeOut (out: string | undefined, source: Readable): Promise<number> {
  let bytes = 0
  if (out === undefined) {
    for await (const chunk of source) {
      bytes += (chunk as Buffer).length
      if (!process.stdout.write(chunk as Buffer)) await once(process.stdout, 'drain')
    }
    return bytes
  }
  const partial = `${out}.partial-${process.pid}`
  try {
    await pipeline(source, new Transform({ transform (chunk: Buffer, _e, cb) { bytes += chunk.length; cb(null, chunk) } }), createWriteStream(partial, { mode: 0o600 }))
    await rename(partial, out)
  } catch (err) {
    await rm(partial, { force: true })
    if (err instanceof IdlemeshError) throw err
    throw new IdlemeshError('CLI_FILE', `cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { status: 500, cause: err })
  }
  return bytes
}

/**
 * GET of a payload as bytes. The shared API client reads bodies as text, which would mangle
 * binary payloads, so this one hands back the response to stream from.
 */
async function fetchRaw (target: NodeTarget, path: string): Promise<Response> {
  const baseUrl = resolveNodeUrl(target)
  const token = target.token ?? process.env.IDLEMESH_API_TOKEN
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
  const controller = new AbortController()
  let timer = setTimeout(() => { controller.abort(new Error('timeout')) }, RESPONSE_TIMEOUT_MS)
  let response: Response
  try {
    response = await fetch(`${baseUrl}${path}`, { headers, signal: controller.signal })
  } catch (err) {
    clearTimeout(timer)
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name
    throw new IdlemeshError('NODE_UNREACHABLE', `cannot reach the node at ${baseUrl}: ${cause}`, { status: 503, cause: err })
  }
  clearTimeout(timer)
  timer = setTimeout(() => { controller.abort(new Error('timeout')) }, TRANSFER_TIMEOUT_MS)
  // The download timer must not keep the process alive once the body is read.
  timer.unref()
  if (!response.ok) {
    const text = await response.text()
    let error: { code?: string, message?: string } | undefined
    try {
      error = (JSON.parse(text) as { error?: { code?: string, message?: string } }).error
    } catch {}
    throw new IdlemeshError(error?.code ?? 'HTTP_ERROR', error?.message ?? `GET ${path}: HTTP ${response.status}`, { status: response.status })
  }
  return response
}
