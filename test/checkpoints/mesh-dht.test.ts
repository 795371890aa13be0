import { describe, expect, it } from 'vitest'
import type { IdlemeshNode } from '../../src/node.ts'
import { decodeHeadRecord, headRecordKey, type HeadRecord } from '../../src/checkpoints/dht-record.ts'
import { HEADS_PROTOCOL } from '../../src/checkpoints/wire.ts'
import { waitFor } from '../helpers/wait.ts'
import { useTestFixture } from '../helpers/fixture.ts'
import { heal, holds, localLatest, split, startMesh, text, type Four } from './mesh-helpers.ts'

const STREAM = 'dht'
/**
 * A's head goes to the DHT at most this often. The test leans on it: A's second post is published
 * only this long after its first, by which time A is back in touch with B.
 */
const PUBLISH_INTERVAL_MS = 12_000
/** How long `latest` asks peers and the DHT (the config default, pinned). */
const LATEST_QUERY_TIMEOUT_MS = 1500

/**
 * The head record `node` itself stores for the stream (what it answers a DHT GET with), read
 * without a query: a query would also write the best record it finds into the node's own store
 * (kad-dht's correction step). kad-dht does not export the local read; the class behind the
 * service has it (@libp2p/kad-dht dist/src/content-fetching/index.js).
 */
async function storedHeadRecord (node: IdlemeshNode, stream: string): Promise<HeadRecord | undefined> {
  const dht = node.mesh.libp2p.services.dht as unknown as { contentFetching: { getLocal: (key: Uint8Array) => Promise<{ value: Uint8Array }> } }
  try {
    return decodeHeadRecord((await dht.contentFetching.getLocal(headRecordKey(stream))).value, headRecordKey(stream))
  } catch {
    return undefined
  }
}

/**
 * A – B – {C, D}: C and D have no connection to A, B relays. B ends up holding A's newer head only
 * as a DHT record: it got the record from A but not the checkpoint (its catch-up is paused, and A
 * posted while cut off from everyone). So none of C's peers answers with the newer head; only the
 * DHT knows of it.
 */
describe('latest learns of a head through the DHT', () => {
  const fixture = useTestFixture()

  it('a newer head only the DHT reports, held by a member C cannot reach, leaves C\'s answer unconfirmed, also when a peer never answers', async () => {
    const [a, b, c, d] = (await startMesh(fixture.dirs, 4, i => ({
      checkpoints: {
        // No periodic anti-entropy: what B, C and D hold is what gossip and on-connect sync bring.
        syncIntervalMs: 600_000,
        latestQueryTimeoutMs: LATEST_QUERY_TIMEOUT_MS,
        ...(i === 0 ? { dhtPublishIntervalMs: PUBLISH_INTERVAL_MS } : {})
      }
    }), fixture.nodes)).nodes as Four
    await split([a], [c, d], [b])

    // The first post of a stream is published to the DHT at once; it reaches C and D through B.
    const publishedAt = Date.now()
    const first = await a.checkpoints.post({ stream: STREAM, payload: text('first') })
    await waitFor(async () => (await Promise.all([b, c, d].map(async n => await holds(n, first.id)))).every(Boolean), { what: 'the first checkpoint on B, C and D' })
    await waitFor(async () => (await storedHeadRecord(b, STREAM))?.id.toString() === first.id, { what: 'the first head record on B' })

    // B keeps answering heads and DHT queries but no longer catches up on connect. A is cut off
    // from B too and posts again: that checkpoint reaches no one, and its head record waits for
    // A's publish interval.
    b.replicator.stop()
    await split([a], [b])
    const second = await a.checkpoints.post({ stream: STREAM, payload: text('second') })
    expect(second.parents).toEqual([first.id])
    const postedAt = Date.now()
    // Gossipsub re-offers (IHAVE) messages of its last 3 heartbeats to peers that (re)join: let
    // that window pass, so the reconnected B cannot get the second checkpoint by gossip.
    await waitFor(() => Date.now() - postedAt > 4500, { timeoutMs: 10_000, what: 'gossipsub\'s message cache to age out' })
    heal([a], [b])
    await waitFor(() => a.mesh.isConnected(b.peerId), { timeoutMs: 20_000, what: 'A and B to reconnect' })
    // Not a wait but a precondition: the record must go out after A and B are linked again.
    expect(Date.now() - publishedAt, 'A and B reconnected only after A published its second head').toBeLessThan(PUBLISH_INTERVAL_MS - 500)

    await waitFor(async () => (await storedHeadRecord(b, STREAM))?.id.toString() === second.id, { timeoutMs: PUBLISH_INTERVAL_MS + 15_000, what: 'A\'s second head record on B' })
    for (const node of [b, c, d]) expect(await holds(node, second.id)).toBe(false)
    expect(await localLatest(c, STREAM)).toBe(first.id)

    // C asks B and D, which both answer with the first checkpoint; the DHT reports the second,
    // published by A. C cannot reach A to fetch it, so it answers with what it holds and does not
    // call that confirmed.
    const latest = await c.checkpoints.latest(STREAM)
    expect(latest.peersAsked).toBe(2)
    expect(latest.peersAnswered).toBe(2)
    expect(latest.checkpoint.id).toBe(first.id)
    expect(new TextDecoder().decode(latest.payload)).toBe('first')
    expect(latest.source).toBe('local')
    expect(latest.confirmed).toBe(false)
    expect(await holds(c, second.id)).toBe(false)

    // D stays connected but stops answering heads requests (stuck, overloaded): C's question to it
    // runs until the query timeout. The DHT must still be heard within that time.
    await d.mesh.libp2p.handle(HEADS_PROTOCOL, () => { /* read nothing, answer nothing */ }, { force: true })
    const startedAt = Date.now()
    const withSilentPeer = await c.checkpoints.latest(STREAM)
    const took = Date.now() - startedAt
    expect(withSilentPeer.peersAsked).toBe(2)
    expect(withSilentPeer.peersAnswered).toBe(1)
    expect(withSilentPeer.checkpoint.id).toBe(first.id)
    expect(withSilentPeer.confirmed).toBe(false)
    // Bounded by the query timeout (plus the failed fetch from A and a busy machine's slack).
    expect(took).toBeGreaterThanOrEqual(LATEST_QUERY_TIMEOUT_MS - 50)
    expect(took).toBeLessThan(LATEST_QUERY_TIMEOUT_MS + 5000)
  })
})
