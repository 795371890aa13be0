import { setFlagsFromString } from 'node:v8'

// Smaller heap growth steps and less eager code caching: a node idles at ~112 MB instead of
// ~150 MB, with no throughput loss we could measure (see README, Benchmarks). Set before the
// node's modules load, which is why this file imports nothing else statically.
setFlagsFromString('--optimize-for-size')
const { runCli } = await import('./main.ts')
await runCli()
