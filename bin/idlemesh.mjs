#!/usr/bin/env node
// Launcher: idlemesh needs Node >= 22 (libp2p 3). On an older system Node, re-run with the
// Node 24 binary that the `node` devDependency installs into this package's node_modules,
// forwarding signals so that `kill PID` and Ctrl-C stop the node cleanly.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const entry = join(root, 'src', 'cli', 'main.ts')
const major = Number(process.versions.node.split('.')[0])

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
