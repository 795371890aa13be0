import { connect } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'

export type ProbeResult = 'refused' | 'open' | 'unknown'

/**
 * A process being killed does not vanish at once: for a few milliseconds its listener may still
 * accept or reset connections. Probing again over about a second turns that race into a clear
 * answer: 'refused' as soon as any attempt is refused, 'open' only if the last attempt connected.
 */
export async function probeUntilSettled (addrs: readonly string[], timeoutMs: number, delaysMs: readonly number[] = [0, 50, 100, 200, 400]): Promise<ProbeResult> {
  let last: ProbeResult = 'unknown'
  for (const delay of delaysMs) {
    if (delay > 0) await new Promise(resolve => setTimeout(resolve, delay))
    last = await probeTcpAddrs(addrs, timeoutMs)
    if (last === 'refused') return last
  }
  return last
}

/**
 * Is anything still listening where a peer said it listens? A connection refused on every TCP
 * address is strong evidence that the process is gone (a crash closes its sockets; the kernel
 * answers for it). A timeout proves nothing: it may be a partition or a busy host.
 */
export async function probeTcpAddrs (addrs: readonly string[], timeoutMs: number): Promise<ProbeResult> {
  const targets = addrs.flatMap(addr => {
    try {
      const { host, port, transport } = toHostPort(addr)
      return transport === 'tcp' && host !== '0.0.0.0' && host !== '::' ? [{ host, port }] : []
    } catch {
      return []
    }
  })
  if (targets.length === 0) return 'unknown'
  const results = await Promise.all(targets.map(async t => await probeOne(t.host, t.port, timeoutMs)))
  if (results.includes('open')) return 'open'
  return results.every(r => r === 'refused') ? 'refused' : 'unknown'
}

function toHostPort (addr: string): { host: string, port: number, transport: string } {
  const components = multiaddr(addr).getComponents()
  const hostPart = components.find(c => c.name === 'ip4' || c.name === 'ip6')
  const tcpPart = components.find(c => c.name === 'tcp')
  if (hostPart?.value === undefined || tcpPart?.value === undefined) return { host: '', port: 0, transport: 'other' }
  return { host: hostPart.value, port: Number(tcpPart.value), transport: 'tcp' }
}

async function probeOne (host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return await new Promise(resolve => {
    const socket = connect({ host, port })
    const done = (result: ProbeResult): void => { socket.destroy(); resolve(result) }
    socket.setTimeout(timeoutMs, () => { done('unknown') })
    socket.once('connect', () => { done('open') })
    // A reset while connecting means the listener is being torn down: as good as refused.
    socket.once('error', (err: NodeJS.ErrnoException) => { done(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? 'refused' : 'unknown') })
  })
}
