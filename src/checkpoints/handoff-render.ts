/**
 * Turns a handoff payload back into a "resume here" page for people
 * (`idlemesh checkpoint latest --handoff`). The payload may come from any mesh member, so it
 * is checked before use and every string is stripped of terminal control characters.
 */
import { IdlemeshError } from '../errors.ts'
import { HANDOFF_CONTENT_TYPE, HANDOFF_KIND, HANDOFF_VERSION } from './git-handoff.ts'
import type { Handoff, HandoffDiffStat } from './git-handoff.ts'
import type { CheckpointView } from './service-types.ts'

/** How many entries of each list the summary shows; the JSON form has them all. */
const SHOW_STATUS = 30
const SHOW_FILES = 20
const SHOW_MARKERS = 30

function notHandoff (view: CheckpointView | undefined, why: string): IdlemeshError {
  const what = view === undefined ? 'the payload' : `checkpoint ${view.id} (kind ${view.meta.kind ?? 'none'}, ${view.meta.contentType ?? 'no content type'})`
  return new IdlemeshError('CHECKPOINT_NOT_HANDOFF', `${what} is not a handoff: ${why}; post one with 'idlemesh checkpoint post --from-git DIR'`, { status: 400 })
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Parses and checks a handoff payload. Throws CHECKPOINT_NOT_HANDOFF when the checkpoint is
 * some other kind of payload or the JSON lacks what the summary needs.
 */
export function parseHandoff (payload: Uint8Array, view?: CheckpointView): Handoff {
  if (view !== undefined && view.meta.kind !== HANDOFF_KIND && view.meta.contentType?.split(';')[0]?.trim() !== HANDOFF_CONTENT_TYPE) {
    throw notHandoff(view, `its kind is not '${HANDOFF_KIND}'`)
  }
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload))
  } catch {
    throw notHandoff(view, 'it is not JSON')
  }
  if (!isRecord(value) || value.kind !== HANDOFF_KIND) throw notHandoff(view, `its JSON has no "kind": "${HANDOFF_KIND}"`)
  if (value.v !== HANDOFF_VERSION) throw notHandoff(view, `handoff version ${String(value.v)} is not one this CLI reads (v${HANDOFF_VERSION}); upgrade idlemesh`)
  const problem = shapeProblem(value)
  if (problem !== undefined) throw notHandoff(view, problem)
  return value as unknown as Handoff
}

function shapeProblem (h: Record<string, unknown>): string | undefined {
  if (!isRecord(h.repo) || typeof h.repo.root !== 'string') return 'repo.root is missing'
  if (h.branch !== null && typeof h.branch !== 'string') return 'branch must be a string or null'
  if (h.head !== null && !(isRecord(h.head) && typeof h.head.sha === 'string')) return 'head must be {sha, subject} or null'
  for (const list of ['status', 'commits', 'markers'] as const) {
    if (!Array.isArray(h[list])) return `${list} must be a list`
  }
  if (!isRecord(h.diffStat) || !isRecord(h.diffStat.worktree) || !isRecord(h.diffStat.staged)) return 'diffStat is missing'
  return undefined
}

/** Terminal escapes and other control characters out, newlines (where allowed) kept. */
function clean (value: unknown, keepNewlines = false): string {
  const text = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value)
  return keepNewlines
    ? text.replace(/\r\n?/g, '\n').replace(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/g, '?')
    : text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?')
}

/** Quotes a word for a POSIX shell when it needs it, so the printed commands paste as they are. */
function shellQuote (word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

function more (shown: number, total: number): string[] {
  return total > shown ? [`    … and ${total - shown} more`] : []
}

function diffLines (title: string, stat: HandoffDiffStat): string[] {
  const files = Array.isArray(stat.files) ? stat.files : []
  if (files.length === 0) return [`  ${title}: none`]
  const lines = [`  ${title}: ${clean(stat.summary) || `${files.length} files changed`}`]
  for (const f of files.slice(0, SHOW_FILES)) {
    const counts = f.added === null || f.deleted === null ? 'binary' : `+${f.added} -${f.deleted}`
    lines.push(`    ${clean(f.path)}  ${counts}`)
  }
  return [...lines, ...more(Math.min(files.length, SHOW_FILES), files.length)]
}

function isoTime (ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms)
}

/** The plain-text "resume here" summary of a handoff checkpoint. */
export function renderHandoff (handoff: Handoff, view: CheckpointView): string {
  const root = clean(handoff.repo.root)
  const branch = handoff.branch === null ? null : clean(handoff.branch)
  const head = handoff.head
  const out: string[] = []

  out.push(`Resume here: handoff ${view.seq} of stream ${clean(view.stream)}`)
  out.push(`  checkpoint ${view.id}`)
  out.push(`  posted ${isoTime(view.time)} by node ${clean(view.author)}, built ${clean(handoff.createdAt)} on ${clean(handoff.host)}`)
  out.push('')

  out.push('Where')
  out.push(`  repository  ${root} on ${clean(handoff.host)}`)
  if (handoff.repo.remote !== undefined) out.push(`  remote      ${clean(handoff.repo.remote.name)} ${clean(handoff.repo.remote.url)}`)
  out.push(`  branch      ${branch ?? '(detached HEAD)'}`)
  out.push(`  HEAD        ${head === null ? '(no commits yet)' : `${clean(head.sha).slice(0, 12)} ${clean(head.subject)}`}`)
  out.push('')

  out.push('Message')
  out.push(handoff.message === null || handoff.message === undefined ? '  (none)' : clean(handoff.message, true).split('\n').map(l => `  ${l}`).join('\n'))
  out.push('')

  out.push('Done (recent commits, newest first)')
  if (handoff.commits.length === 0) out.push('  (no commits yet)')
  for (const c of handoff.commits) {
    out.push(`  ${clean(c.sha).slice(0, 12)}  ${clean(c.date).slice(0, 10)}  ${clean(c.author).replace(/\s*<[^>]*>$/, '')}  ${clean(c.subject)}`)
  }
  out.push('')

  out.push('Pending')
  const status = handoff.status
  if (status.length === 0) {
    out.push('  working tree clean')
  } else {
    out.push(`  uncommitted changes (${status.length}, on ${clean(handoff.host)} only: they are not in this checkpoint):`)
    for (const line of status.slice(0, SHOW_STATUS)) out.push(`    ${clean(line)}`)
    out.push(...more(Math.min(status.length, SHOW_STATUS), status.length))
  }
  out.push(...diffLines('diff against HEAD', handoff.diffStat.worktree))
  out.push(...diffLines('staged', handoff.diffStat.staged))
  const markers = handoff.markers
  if (markers.length === 0) {
    out.push('  TODO/FIXME in changed files: none')
  } else {
    out.push(`  TODO/FIXME in changed files (${markers.length}${handoff.markersTruncated === true ? '+' : ''}):`)
    for (const m of markers.slice(0, SHOW_MARKERS)) out.push(`    ${clean(m.file)}:${m.line}: ${clean(m.text)}`)
    out.push(...more(Math.min(markers.length, SHOW_MARKERS), markers.length))
  }
  out.push('')

  out.push('Resume')
  out.push(`  on ${clean(handoff.host)}:`)
  out.push(`    cd ${shellQuote(root)}`)
  out.push(...checkoutCommands(branch, head?.sha))
  out.push('    git status')
  if (handoff.repo.remote !== undefined) {
    const url = clean(handoff.repo.remote.url)
    const name = /([^/:]+?)(\.git)?\/?$/.exec(url)?.[1] ?? 'repo'
    out.push('  anywhere else:')
    out.push(`    git clone ${shellQuote(url)} ${shellQuote(name)}`)
    out.push(`    cd ${shellQuote(name)}`)
    out.push(...checkoutCommands(branch, head?.sha))
    if (head !== null) out.push(`  (HEAD was ${clean(head.sha).slice(0, 12)}: commits not pushed yet, like uncommitted changes, exist only on ${clean(handoff.host)})`)
  }
  return out.join('\n') + '\n'
}

function checkoutCommands (branch: string | null, sha: string | undefined): string[] {
  const lines: string[] = []
  if (branch !== null) lines.push(`    git checkout ${shellQuote(branch)}`)
  else if (sha !== undefined) lines.push(`    git checkout ${shellQuote(clean(sha))}`)
  return lines
}
