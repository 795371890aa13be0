#!/usr/bin/env node
// Launcher for the `idlemesh` command. It runs the compiled node (dist/, built by `npm ci` or
// `npm run build`). idlemesh needs Node >= 22 (libp2p 3): on an older system Node it re-runs
// itself on the Node 24 binary that the `node` devDependency installs into node_modules,
// forwarding signals so that `kill PID` and Ctrl-C stop the node cleanly.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const entry = join(root, 'dist', 'cli', 'entry.js')
const major = Number(process.versions.node.split('.')[0])

if (!existsSync(entry)) {
  process.stderr.write(`idlemesh: ${entry} is missing; run 'npm ci' (or 'npm run build') in ${root}\n`)
  process.exit(1)
}

if (major >= 22) {
  await import(entry)
} else {
  const bundled = join(root, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(bundled)) {
    process.stderr.write(`idlemesh: needs Node >= 22 (this is ${process.version}); run 'npm ci' in ${root} to install Node 24 beside it\n`)
    process.exit(1)
  }
  const child = spawn(bundled, [entry, ...process.argv.slice(2)], { stdio: 'inherit' })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => { child.kill(signal) })
  }
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal)
    else process.exit(code ?? 1)
  })
}
