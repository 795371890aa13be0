/**
 * `npm run build`: bundles the node and CLI (src/cli/main.ts and everything it imports) into one
 * ES module, dist/idlemesh.mjs, which the launcher, `npm start`, the demo and the benchmarks run.
 *
 * Why one bundle rather than a file per module: Node keeps every loaded module's source and
 * bookkeeping alive, and the allocator keeps what parsing hundreds of files left behind. One
 * bundle, tree-shaken (zod's 45 locales and the parts of fastify, libp2p and prom-client we never
 * call drop out) and with whitespace removed, starts in about half the time and idles about
 * 15 MB lower than the same code as one file per module (README, Benchmarks). Identifiers are
 * kept so stack traces and error names still read as the source does.
 *
 * Left outside the bundle, loaded from node_modules at run time:
 * - sodium-native and classic-level: native addons, found through their own folders;
 * - xsalsa20 (the pnet cipher): src/mesh/pnet-cipher.ts puts libsodium behind the copy in
 *   node_modules, so pnet must use that very copy;
 * - yaml: only loaded when a config file is YAML.
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outDir = join(root, 'dist')

rmSync(outDir, { recursive: true, force: true })
mkdirSync(outDir, { recursive: true })

await build({
  entryPoints: [join(root, 'src', 'cli', 'main.ts')],
  outfile: join(outDir, 'idlemesh.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  external: ['sodium-native', 'classic-level', 'xsalsa20', 'yaml'],
  minifySyntax: true,
  minifyWhitespace: true,
  sourcemap: 'linked',
  logLevel: 'warning',
  // Bundled CommonJS packages call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __idlemeshCreateRequire } from 'node:module'; const require = __idlemeshCreateRequire(import.meta.url);" }
})

// Spawned as its own process beside each Claude Code run (src/tasks/runner-factory.ts finds it
// next to the module that names it, which in dist/ is the bundle).
copyFileSync(join(root, 'src', 'tasks', 'orphan-guard.mjs'), join(outDir, 'orphan-guard.mjs'))
// The worker that hashes large pulled checkpoints (src/checkpoints/hasher.ts finds it the same way).
copyFileSync(join(root, 'src', 'checkpoints', 'hash-worker.mjs'), join(outDir, 'hash-worker.mjs'))
