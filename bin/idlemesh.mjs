#!/usr/bin/env -S node --max-semi-space-size=16 --initial-old-space-size=128 --no-concurrent-recompilation --expose-gc
// Launcher for the `idlemesh` command. It runs the bundled node (dist/idlemesh.mjs, built by `npm ci` or
// `npm run build`) with the node's V8 settings. idlemesh needs Node >= 22
// (libp2p 3): on an older system Node it re-runs itself on the Node 24 binary that the `node`
// devDependency installs into node_modules, forwarding signals so that `kill PID` and Ctrl-C
// stop the node cleanly.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

// V8 sizes its heap before any code runs, so these must be command-line flags:
// - a young generation of up to 16 MB per semi-space: under webhook load ~14 % less CPU per
//   delivery than 2 MB; it grows only under load, and src/memory shrinks it back when idle;
// - --expose-gc, for that trim (src/memory), the only caller;
// - an old generation whose collection limit never drops below 128 MB: after a trim V8 derives
//   the limit from the little that is left, and with a 16 MB young generation it then started a
//   full collection almost as soon as the last one ended (24 in 8 s of webhook load instead of 6,
//   ~25 % more CPU per delivery). The limit is not memory: an idle node holds what it did;
// - optimised code compiled on the main thread rather than on helper threads (less memory,
//   about the same CPU per request).
// --optimize-for-size took an idle node from ~118 MB to ~112 MB but cost ~35 % more CPU per webhook.
const V8_FLAGS = ['--max-semi-space-size=16', '--initial-old-space-size=128', '--no-concurrent-recompilation', '--expose-gc']
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const entry = join(root, 'dist', 'idlemesh.mjs')
const major = Number(process.versions.node.split('.')[0])

if (!existsSync(entry)) {
  process.stderr.write(`idlemesh: ${entry} is missing; run 'npm ci' (or 'npm run build') in ${root}\n`)
  process.exit(1)
}

if (major >= 22 && V8_FLAGS.every(flag => process.execArgv.includes(flag))) {
  const { runCli } = await import(entry)
  await runCli()
} else {
  // Started by an older Node, or as `node bin/idlemesh.mjs` without the flags of the first line.
  const node = major >= 22 ? process.execPath : join(root, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(node)) {
    process.stderr.write(`idlemesh: needs Node >= 22 (this is ${process.version}); run 'npm ci' in ${root} to install Node 24 beside it\n`)
    process.exit(1)
  }
  const child = spawn(node, [...V8_FLAGS, entry, ...process.argv.slice(2)], { stdio: 'inherit' })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => { child.kill(signal) })
  }
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal)
    else process.exit(code ?? 1)
  })
}
