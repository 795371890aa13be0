import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { Mesh } from '../mesh/index.ts'

export const RTT_PROTOCOL = '/idlemesh/rtt/1.0.0'
const PROBE_BYTES = 8

/**
 * Round-trip times over one long-lived stream per peer: an 8-byte echo. libp2p's ping opens a
 * stream per ping and reports whole milliseconds, which on a LAN measures stream setup (~3 ms)
 * rather than the path (~0.3 ms).
 */
export class RttProber {
  private readonly mesh: Mesh
  private readonly streams = new Map<string, { stream: Stream, lp: LengthPrefixedStream<Stream> }>()

  constructor (mesh: Mesh) {
    this.mesh = mesh
  }

  start (): void {
    this.mesh.handle(RTT_PROTOCOL, (stream) => { void this.echo(stream) }, { maxInboundStreams: 4 })
    this.mesh.on('peer:disconnect', (peerId) => { this.drop(peerId) })
  }

  stop (): void {
    for (const peerId of [...this.streams.keys()]) this.drop(peerId)
  }

  /** One round trip to a connected peer, in ms with sub-millisecond precision. */
  async measure (peerId: string, signal: AbortSignal = AbortSignal.timeout(2000)): Promise<number> {
    let entry = this.streams.get(peerId)
    const fresh = entry === undefined
    if (entry === undefined) {
      const stream = await this.mesh.dialProtocol(peerId, RTT_PROTOCOL, signal)
      entry = { stream, lp: lpStream(stream) }
      this.streams.set(peerId, entry)
    }
    try {
      // The first exchange on a new stream still carries protocol negotiation: not the path.
      if (fresh) {
        await entry.lp.write(new Uint8Array(PROBE_BYTES), { signal })
        await entry.lp.read({ signal })
      }
      const started = performance.now()
      await entry.lp.write(new Uint8Array(PROBE_BYTES), { signal })
      await entry.lp.read({ signal })
      return performance.now() - started
    } catch (err) {
      this.drop(peerId)
      throw err
    }
  }

  private drop (peerId: string): void {
    const entry = this.streams.get(peerId)
    if (entry === undefined) return
    this.streams.delete(peerId)
    entry.stream.abort(new Error('rtt stream dropped'))
  }

  private async echo (stream: Stream): Promise<void> {
    const lp = lpStream(stream)
    try {
      for (;;) {
        const probe = await lp.read()
        if (probe.byteLength !== PROBE_BYTES) throw new Error('bad rtt probe')
        await lp.write(probe)
      }
    } catch {
      stream.abort(new Error('rtt echo ended'))
    }
  }
}
