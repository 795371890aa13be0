/**
 * `npm run bench [-- SUITE…]`: runs every suite in scripts/bench/suites/ (or those named), prints
 * one table and saves every row to bench-results/<timestamp>.json and bench-results/latest.json.
 * BENCH_QUICK=1 asks the suites for a short smoke run.
 *
 * Each suite runs in a child process of its own, in its own process group and temp dir: a suite
 * that throws, hangs or leaks processes is reported and cleaned up without disturbing the
 * others, and none of them measures in a heap or an event loop that an earlier suite left busy.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { renderTable } from '../../src/cli/format.ts'
import { removeDir, trackChild, trackDir } from '../lib/cleanup.ts'
import { exited } from '../lib/proc.ts'
import type { BenchContext, BenchRow, BenchSuite } from './types.ts'

const ROOT = resolve(import.meta.dirname, '..', '..')
/** BENCH_SUITES_DIR exists to exercise this harness on throwaway suites. */
const SUITES_DIR = resolve(process.env.BENCH_SUITES_DIR ?? join(import.meta.dirname, 'suites'))
const RESULTS_DIR = join(ROOT, 'bench-results')
/** A suite still running after this long is killed and reported as failed: 15 min. */
const SUITE_TIMEOUT_MS = Number(process.env.BENCH_SUITE_TIMEOUT_MS ?? 15 * 60_000)
const CHILD_FLAG = '--run-suite'

interface SuiteOutcome {
  name: string
  file: string
  ok: boolean
  error?: string
  durationMs: number
  rows: BenchRow[]
}

/** What a suite's child process writes for the parent. */
interface ChildResult {
  rows?: BenchRow[]
  error?: string
}

function quick (): boolean {
  return process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true'
}

function listSuites (): Map<string, string> {
  const files = readdirSync(SUITES_DIR).filter(f => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts')).sort()
  return new Map(files.map(f => [basename(f, '.ts'), join(SUITES_DIR, f)]))
}

// ---- parent: choose, run, report ----

async function main (argv: string[]): Promise<number> {
  const available = listSuites()
  const wanted = argv.filter(a => a !== '--')
  const unknown = wanted.filter(name => !available.has(basename(name, '.ts')))
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown suite(s) ${unknown.join(', ')}; available: ${[...available.keys()].join(', ') || '(none)'}\n`)
    return 2
  }
  const selected = wanted.length === 0 ? [...available.keys()] : [...new Set(wanted.map(n => basename(n, '.ts')))]
  if (selected.length === 0) {
    process.stderr.write(`bench: no suites in ${SUITES_DIR}\n`)
    return 2
  }

  const startedAt = new Date()
  const runDir = mkdtempSync(join(tmpdir(), 'idlemesh-bench-'))
  trackDir(runDir)
  process.stderr.write(`bench: ${selected.join(', ')}${quick() ? ' (BENCH_QUICK)' : ''}; node ${process.version}, ${cpus().length} cpus, load ${loadavg().map(l => l.toFixed(2)).join(' ')}\n`)
  const outcomes: SuiteOutcome[] = []
  try {
    for (const name of selected) outcomes.push(await runSuiteInChild(name, available.get(name) as string, runDir))
  } finally {
    removeDir(runDir)
  }

  const rows = outcomes.flatMap(o => o.rows)
  process.stdout.write(`\n${renderRows(rows)}\n`)
  const notes = rows.filter(r => r.note !== undefined && r.note !== '')
  if (notes.length > 0) process.stdout.write(`\nnotes:\n${notes.map(r => `  ${r.suite} / ${r.name}: ${r.note ?? ''}`).join('\n')}\n`)
  const failed = outcomes.filter(o => !o.ok)
  for (const o of failed) process.stdout.write(`\nSUITE FAILED ${o.name}: ${o.error ?? 'unknown error'}\n`)

  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    quick: quick(),
    host: { node: process.version, platform: process.platform, arch: process.arch, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', loadavg: loadavg() },
    suites: outcomes.map(({ rows: _rows, ...rest }) => rest),
    rows
  }
  mkdirSync(RESULTS_DIR, { recursive: true })
  // Colons would make the name awkward to copy around (scp, other file systems).
  const file = join(RESULTS_DIR, `${startedAt.toISOString().replace(/:/g, '-')}.json`)
  const text = JSON.stringify(report, null, 2) + '\n'
  writeFileSync(file, text)
  writeFileSync(join(RESULTS_DIR, 'latest.json'), text)
  process.stdout.write(`\nsaved ${rows.length} row(s) to ${file} and bench-results/latest.json\n`)
  return failed.length > 0 ? 1 : 0
}

async function runSuiteInChild (name: string, file: string, runDir: string): Promise<SuiteOutcome> {
  const tmpDir = join(runDir, name)
  const outFile = join(runDir, `${name}.result.json`)
  mkdirSync(tmpDir)
  const started = performance.now()
  process.stderr.write(`bench: running ${name}\n`)
  // detached: its own process group, so whatever the suite started goes down with it.
  const child = spawn(process.execPath, [import.meta.filename, CHILD_FLAG, file, tmpDir, outFile], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], detached: true })
  trackChild(child, { group: true })
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; killGroup(child.pid) }, SUITE_TIMEOUT_MS)
  const status = await exited(child)
  clearTimeout(timer)
  // The suite's process is gone; anything it left running in its group goes too.
  killGroup(child.pid)
  removeDir(tmpDir)
  const durationMs = Math.round(performance.now() - started)

  let result: ChildResult | undefined
  try {
    result = JSON.parse(readFileSync(outFile, 'utf8')) as ChildResult
  } catch {
    result = undefined
  }
  const rows = Array.isArray(result?.rows) ? result.rows : []
  let error = result?.error
  if (timedOut) error = `still running after ${SUITE_TIMEOUT_MS} ms; killed`
  else if (result === undefined) error = `suite process ${status.signal !== null ? `killed by ${status.signal}` : `exited with code ${String(status.code)}`} without a result`
  process.stderr.write(`bench: ${name} ${error === undefined ? 'done' : 'FAILED'} in ${(durationMs / 1000).toFixed(1)} s\n`)
  return { name, file: join('scripts', 'bench', 'suites', basename(file)), ok: error === undefined, ...(error === undefined ? {} : { error }), durationMs, rows }
}

function killGroup (pid: number | undefined): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // ESRCH: the group is already empty.
  }
}

function renderRows (rows: BenchRow[]): string {
  if (rows.length === 0) return '(no rows)'
  return renderTable(
    ['SUITE', 'NAME', 'VALUE', 'UNIT', 'BASELINE', 'RATIO', 'TARGET', 'PASS'],
    rows.map(r => [
      r.suite,
      r.name,
      formatNumber(r.value),
      r.unit,
      r.baseline === undefined ? '-' : `${r.baseline.name} ${formatNumber(r.baseline.value)} ${r.baseline.unit}`,
      r.ratio === undefined ? '-' : `${formatNumber(r.ratio)}x`,
      r.target ?? '-',
      r.pass === undefined ? '-' : r.pass ? 'yes' : 'NO'
    ])
  )
}

/** Three significant digits is all a benchmark figure on a shared machine is worth. */
function formatNumber (value: number): string {
  if (!Number.isFinite(value)) return String(value)
  if (Number.isInteger(value)) return String(value)
  const abs = Math.abs(value)
  return abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : abs >= 1 ? value.toFixed(2) : String(Number(value.toPrecision(3)))
}

// ---- child: run one suite and write its rows ----

async function runChild (file: string, tmpDir: string, outFile: string): Promise<number> {
  const name = basename(file, '.ts')
  const ctx: BenchContext = {
    tmpDir,
    nodeBin: process.execPath,
    root: ROOT,
    quick: quick(),
    log: (line: string) => { process.stderr.write(`  [${name}] ${line}\n`) }
  }
  let result: ChildResult
  try {
    const mod = await import(pathToFileURL(file).href) as { suite?: BenchSuite }
    const suite = mod.suite
    if (suite === undefined || typeof suite.run !== 'function') throw new Error(`${file} does not export \`suite\` (a BenchSuite with name and run)`)
    const rows = await suite.run(ctx)
    if (!Array.isArray(rows)) throw new Error('run() did not return an array of rows')
    result = { rows: rows.map(r => ({ ...r, suite: r.suite ?? suite.name })) }
  } catch (err) {
    const e = err as Error
    result = { error: e.message ?? String(err) }
    process.stderr.write(`  [${name}] ${e.stack ?? String(err)}\n`)
  }
  writeFileSync(outFile, JSON.stringify(result))
  return result.error === undefined ? 0 : 1
}

const args = process.argv.slice(2)
if (args[0] === CHILD_FLAG) {
  const [, file, tmpDir, outFile] = args
  if (file === undefined || tmpDir === undefined || outFile === undefined) throw new Error(`usage: ${CHILD_FLAG} SUITE_FILE TMP_DIR OUT_FILE`)
  // Exit explicitly: a suite may leave a timer or socket open, and the parent is waiting.
  process.exit(await runChild(file, tmpDir, outFile))
} else {
  process.exitCode = await main(args)
}
