import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { IdlemeshError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { TaskMesh } from './index.ts'
import { MAX_WIRE_BYTES, RPC_PROTOCOL } from './constants.ts'
import { decodeRpcRequest, decodeRpcResponse, encodeWire, type RpcRequest, type RpcResponse } from './wire.ts'

/** Sends one request on a new stream and reads one response. Throws TASK_PEER_UNREACHABLE. */
export async function callPeer (mesh: TaskMesh, peerId: string, request: RpcRequest, timeoutMs: number): Promise<RpcResponse> {
  const signal = AbortSignal.timeout(timeoutMs)
  let stream: Stream
  try {
    stream = await mesh.dialProtocol(peerId, RPC_PROTOCOL, signal)
  } catch (err) {
    throw new IdlemeshError('TASK_PEER_UNREACHABLE', `node ${peerId} is not reachable: ${(err as Error).message}`, { status: 503, cause: err })
  }
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_WIRE_BYTES })
    await lp.write(encodeWire(request), { signal })
    const response = decodeRpcResponse((await lp.read({ signal })).subarray())
    if (response === undefined) throw new IdlemeshError('TASK_BAD_RESPONSE', `node ${peerId} sent a malformed ${request.k} response`, { status: 502 })
    if (response.k === 'error') throw new IdlemeshError('TASK_PEER_ERROR', `node ${peerId} could not answer ${request.k}: ${response.message}`, { status: 502 })
    return response
  } catch (err) {
    if (err instanceof IdlemeshError) throw err
    throw new IdlemeshError('TASK_PEER_UNREACHABLE', `${request.k} to node ${peerId} failed: ${(err as Error).message}`, { status: 503, cause: err })
  } finally {
    await stream.close().catch(() => { stream.abort(new Error('close failed')) })
  }
}

/** Serves RPC_PROTOCOL: one request frame in, one response frame out, then both sides close. */
export function serveRpc (mesh: TaskMesh, logger: Logger, handler: (from: string, request: RpcRequest) => Promise<RpcResponse>): void {
  mesh.handle(RPC_PROTOCOL, (stream, connection) => {
    void (async () => {
      const from = connection.remotePeer.toString()
      // A log read may wait up to a minute for new lines; nothing else takes more than seconds.
      const signal = AbortSignal.timeout(90_000)
      try {
        const lp = lpStream(stream, { maxDataLength: MAX_WIRE_BYTES })
        const request = decodeRpcRequest((await lp.read({ signal })).subarray())
        let response: RpcResponse
        if (request === undefined) {
          response = { k: 'error', message: 'malformed request' }
        } else {
          try {
            response = await handler(from, request)
          } catch (err) {
            logger.warn({ from, k: request.k, err: (err as Error).message }, 'tasks: rpc handler failed')
            response = { k: 'error', message: (err as Error).message.slice(0, 1000) }
          }
        }
        await lp.write(encodeWire(response), { signal })
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err as Error)
      }
    })()
  }, { maxInboundStreams: 256, maxOutboundStreams: 256 })
}
