// SHA-256 over ranges of shared buffers, for src/checkpoints/hasher.ts. Plain JavaScript so that
// the same file runs from the source tree and, copied by scripts/build.ts, beside the bundle.
import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'

/** Open jobs: the shared bytes and the running hash of the ranges fed so far. */
const jobs = new Map()

parentPort.on('message', (message) => {
  const { op, job } = message
  if (op === 'open') {
    jobs.set(job, { bytes: new Uint8Array(message.buffer), hash: createHash('sha256') })
    return
  }
  const state = jobs.get(job)
  if (state === undefined) return
  const range = () => state.bytes.subarray(message.offset, message.offset + message.length)
  switch (op) {
    case 'digest':
      parentPort.postMessage({ job, tag: message.tag, digest: createHash('sha256').update(range()).digest() })
      break
    case 'update':
      if (message.prefix !== undefined) state.hash.update(message.prefix)
      state.hash.update(range())
      break
    case 'final':
      jobs.delete(job)
      parentPort.postMessage({ job, tag: message.tag, digest: state.hash.digest() })
      break
    case 'close':
      jobs.delete(job)
      break
  }
})
