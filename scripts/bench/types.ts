/** One measured figure. `ratio` compares it with a baseline measured in the same run. */
export interface BenchRow {
  suite: string
  name: string
  value: number
  unit: string
  /** What the figure is compared with, measured in the same run on the same machine. */
  baseline?: { name: string, value: number, unit: string }
  /** value / baseline.value (or the inverse when lower is better: see `better`). */
  ratio?: number
  /** The target in words, e.g. '<= 1 s' or '>= 50 % of raw'. */
  target?: string
  pass?: boolean
  note?: string
}

export interface BenchContext {
  /** Scratch directory removed after the suite. */
  tmpDir: string
  /** Node binary that runs idlemesh (>= 22). */
  nodeBin: string
  /** Root of the repository. */
  root: string
  /** Set when BENCH_QUICK=1: fewer iterations, for a smoke run. */
  quick: boolean
  log: (line: string) => void
}

export interface BenchSuite {
  name: string
  run: (ctx: BenchContext) => Promise<BenchRow[]>
}
