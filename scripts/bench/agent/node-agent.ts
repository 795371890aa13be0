/**
 * A benchmark agent: one real idlemesh node in its own process, driven by its parent over IPC.
 * Timestamps are taken here, where things happen, as performance.timeOrigin + performance.now()
 * (milliseconds on the machine's clock, comparable between processes of one machine), so IPC
 * delays never enter a measurement.
 */
import { randomBytes } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import { validateConfig, type ConfigInput } from '../../../src/config/index.ts'
import { silentLogger } from '../../../src/logger.ts'
import { startNode } from '../../../src/node.ts'

export type AgentCommand =
  | { cmd: 'post', id: number, stream: string, bytes: number, count: number, concurrency?: number }
  | { cmd: 'watch', stream: string }
  | { cmd: 'wait-count', id: number, stream: string, count: number }
  | { cmd: 'raw-sub', topic: string }
  | { cmd: 'raw-pub', topic: string, seq: number, bytes: number }
  | { cmd: 'sink' }
  | { cmd: 'send-raw', id: number, peer: string, bytes: number, chunkBytes: number }
  | { cmd: 'stop' }

export type AgentEvent =
  | { ev: 'ready', peerId: string, addrs: string[], at: number }
  | { ev: 'posted', id: number, ids: string[], startedAt: number, endedAt: number }
  | { ev: 'stored', cid: string, at: number }
  | { ev: 'count', id: number, at: number }
  | { ev: 'raw', seq: number, latencyMs: number }
  | { ev: 'raw-sent', id: number, startedAt: number, endedAt: number }
  | { ev: 'error', message: string }

const SINK_PROTOCOL = '/idlemesh-bench/sink/1.0.0'
const now = (): number => performance.timeOrigin + performance.now()
const send = (event: AgentEvent): void => { process.send?.(event) }

const [dataDir, configJson] = process.argv.slice(2) as [string, string]
const node = await startNode({ dataDir, config: validateConfig(JSON.parse(configJson) as ConfigInput), logger: silentLogger() })
const watched = new Set<string>()
const countWaiters: Array<{ id: number, stream: string, count: number }> = []

node.checkpointStore.onAdded((cid, entry) => {
  if (watched.has(entry.stream)) send({ ev: 'stored', cid, at: now() })
  for (let i = countWaiters.length - 1; i >= 0; i--) {
    const w = countWaiters[i] as { id: number, stream: string, count: number }
    if (w.stream === entry.stream && node.checkpointStore.count(w.stream) >= w.count) {
      countWaiters.splice(i, 1)
      send({ ev: 'count', id: w.id, at: now() })
    }
  }
})

async function post (command: Extract<AgentCommand, { cmd: 'post' }>): Promise<void> {
  const ids: string[] = []
  // The payloads exist before the clock starts, as the raw-stream baseline's chunk does.
  const payloads = Array.from({ length: command.count }, () => randomBytes(command.bytes))
  const startedAt = now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < command.count) {
      const payload = payloads[next] as Buffer
      next++
      const result = await node.checkpoints.post({ stream: command.stream, payload })
      if (command.count <= 1000) ids.push(result.id)
    }
  }
  await Promise.all(Array.from({ length: command.concurrency ?? 1 }, worker))
  send({ ev: 'posted', id: command.id, ids, startedAt, endedAt: now() })
}

async function sendRaw (command: Extract<AgentCommand, { cmd: 'send-raw' }>): Promise<void> {
  const stream = await node.mesh.dialProtocol(command.peer, SINK_PROTOCOL, AbortSignal.timeout(120_000))
  const lp = lpStream(stream, { maxDataLength: command.chunkBytes + 1024 })
  const chunk = randomBytes(command.chunkBytes)
  const startedAt = now()
  for (let sent = 0; sent < command.bytes; sent += command.chunkBytes) await lp.write(chunk)
  await lp.write(new Uint8Array(0))
  await lp.read() // the sink's "got everything"
  send({ ev: 'raw-sent', id: command.id, startedAt, endedAt: now() })
  await stream.close().catch(() => {})
}

process.on('message', (message: AgentCommand) => {
  const run = async (): Promise<void> => {
    switch (message.cmd) {
      case 'post': await post(message); break
      case 'watch': watched.add(message.stream); break
      case 'wait-count':
        if (node.checkpointStore.count(message.stream) >= message.count) send({ ev: 'count', id: message.id, at: now() })
        else countWaiters.push(message)
        break
      case 'raw-sub':
        node.mesh.subscribe(message.topic, (msg) => {
          const view = new DataView(msg.data.buffer, msg.data.byteOffset)
          send({ ev: 'raw', seq: view.getUint32(0), latencyMs: now() - view.getFloat64(4) })
        })
        break
      case 'raw-pub': {
        const data = randomBytes(message.bytes)
        const view = new DataView(data.buffer, data.byteOffset)
        view.setUint32(0, message.seq)
        view.setFloat64(4, now())
        await node.mesh.publish(message.topic, data)
        break
      }
      case 'sink':
        node.mesh.handle(SINK_PROTOCOL, (stream) => {
          void (async () => {
            const lp = lpStream(stream, { maxDataLength: 8 * 1024 * 1024 })
            for (;;) if ((await lp.read()).byteLength === 0) break
            await lp.write(new Uint8Array([1]))
            await stream.close()
          })().catch(() => {})
        })
        break
      case 'send-raw': await sendRaw(message); break
      case 'stop':
        await node.stop()
        process.exit(0)
    }
  }
  run().catch((err: Error) => { send({ ev: 'error', message: err.message }) })
})

send({ ev: 'ready', peerId: node.peerId, addrs: node.multiaddrs(), at: now() })
