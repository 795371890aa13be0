import { createServer, type Server } from 'node:net'
import { describe, expect, it } from 'vitest'
import { probeTcpAddrs, probeUntilSettled } from '../../src/membership/index.ts'

async function listen (): Promise<{ server: Server, port: number }> {
  const server = createServer(socket => { socket.destroy() })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as { port: number }).port }
}

describe('TCP probe of a member that may have died', () => {
  it('open while something listens, refused once it is gone', async () => {
    const { server, port } = await listen()
    const addr = `/ip4/127.0.0.1/tcp/${port}/p2p/12D3KooWQgCfafAEVjRV8thc2CLh4fSjNjS3fMZxTGGpt9UAB9KX`
    expect(await probeTcpAddrs([addr], 1000)).toBe('open')
    await new Promise(resolve => server.close(resolve))
    expect(await probeTcpAddrs([addr], 1000)).toBe('refused')
    expect(await probeTcpAddrs(['/ip4/0.0.0.0/tcp/1'], 1000)).toBe('unknown')
  })

  it('a listener that closes a moment after the first probe is still caught by the retries', async () => {
    const { server, port } = await listen()
    const addr = `/ip4/127.0.0.1/tcp/${port}`
    setTimeout(() => { server.close() }, 30)
    expect(await probeUntilSettled([addr], 1000, [0, 50, 100, 200])).toBe('refused')
  })

  it('a member that stays up is reported open after the retries', async () => {
    const { server, port } = await listen()
    try {
      expect(await probeUntilSettled([`/ip4/127.0.0.1/tcp/${port}`], 1000, [0, 10, 10])).toBe('open')
    } finally {
      server.close()
    }
  })
})
