import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import type { ConfigInput } from '../../src/config/index.ts'
import type { IdlemeshNode } from '../../src/node.ts'
import { DATA_FILES, loadIdentity, loadMeshSecret } from '../../src/identity/index.ts'
import { openStore, sublevel } from '../../src/store/index.ts'
import { silentLogger } from '../../src/logger.ts'
import { isIdlemeshError } from '../../src/errors.ts'
import { createKeyring } from '../../src/checkpoints/keyring.ts'
import { createSigner, signingMessage, type Signer } from '../../src/checkpoints/crypto.ts'
import { computeId, decodeEnvelope, sealCheckpoint, type Checkpoint, type Envelope, type Head } from '../../src/checkpoints/format.ts'
import { CheckpointStore } from '../../src/checkpoints/store.ts'
import { CHECKPOINT_TOPIC, encodeWire } from '../../src/checkpoints/wire.ts'
import { randomSigner } from './format-helpers.ts'
import { initMesh, seesAllAlive, startTestNode, type TempDirs } from '../helpers/nodes.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Helpers for the multi-node checkpoint tests (test/checkpoints/mesh-*.test.ts): forming a mesh,
 * reading what each node holds, cutting and healing it, and crafting gossip a misbehaving member
 * could send.
 */

export const text = (value: string): Uint8Array => new TextEncoder().encode(value)
export const randomPayload = (bytes: number): Uint8Array => new Uint8Array(randomBytes(bytes))

export interface TestMesh {
  nodes: IdlemeshNode[]
  dataDirs: string[]
}

/** For destructuring a mesh of known size under noUncheckedIndexedAccess. */
export type Three<T = IdlemeshNode> = [T, T, T]
export type Four<T = IdlemeshNode> = [T, T, T, T]

/**
 * Starts `count` nodes that share one mesh secret; the others bootstrap from the first. Waits
 * until every node sees every other alive and holds a direct connection to it. `overrides`
 * may differ per node.
 */
export async function startMesh (dirs: TempDirs, count: number, overrides: ConfigInput | ((i: number) => ConfigInput) = {}, track?: IdlemeshNode[]): Promise<TestMesh> {
  const dataDirs = await initMesh(dirs, count)
  const configFor = (i: number): ConfigInput => typeof overrides === 'function' ? overrides(i) : overrides
  const nodes: IdlemeshNode[] = []
  const first = await startTestNode(dataDirs[0] as string, configFor(0))
  nodes.push(first)
  track?.push(first)
  const bootstrap = first.multiaddrs()[0] as string
  for (let i = 1; i < count; i++) {
    const node = await startTestNode(dataDirs[i] as string, { bootstrap: [bootstrap], ...configFor(i) })
    nodes.push(node)
    track?.push(node)
  }
  const ids = nodes.map(n => n.peerId)
  await waitFor(() => nodes.every(n => seesAllAlive(n, ids)), { timeoutMs: 20_000, what: 'every node to see every other alive' })
  await waitFor(() => nodes.every(n => n.mesh.connectedPeers().length === count - 1), { timeoutMs: 20_000, what: 'a full mesh of direct connections' })
  return { nodes, dataDirs }
}

/** How many checkpoints of `stream` the node holds (0 for an unknown stream). */
export async function countOf (node: IdlemeshNode, stream: string): Promise<number> {
  return (await node.checkpoints.streams()).find(s => s.stream === stream)?.count ?? 0
}

/** The node's own idea of the stream's latest id, without asking anyone; undefined when it has none. */
export async function localLatest (node: IdlemeshNode, stream: string): Promise<string | undefined> {
  try {
    return (await node.checkpoints.latest(stream, { local: true })).checkpoint.id
  } catch (err) {
    if (isIdlemeshError(err) && err.code === 'CHECKPOINT_NOT_FOUND') return undefined
    throw err
  }
}

/** Whether the node holds checkpoint `id` (stored or accepted, readable by get). */
export async function holds (node: IdlemeshNode, id: string): Promise<boolean> {
  try {
    await node.checkpoints.get(id)
    return true
  } catch (err) {
    if (isIdlemeshError(err) && err.code === 'CHECKPOINT_NOT_FOUND') return false
    throw err
  }
}

/** Number of heads of the stream on the node (2+ = forked). */
export async function headsOf (node: IdlemeshNode, stream: string): Promise<number> {
  return (await node.checkpoints.streams()).find(s => s.stream === stream)?.heads ?? 0
}

/**
 * True when every node holds `count` checkpoints of `stream`, lists them all in its history, and
 * computes the same latest. (History is read from disk and can trail the in-memory count by a
 * group commit: see the history bug test in mesh-durability.test.ts.)
 */
export async function converged (nodes: IdlemeshNode[], stream: string, count: number): Promise<boolean> {
  const counts = await Promise.all(nodes.map(async n => await countOf(n, stream)))
  if (!counts.every(c => c === count)) return false
  const listed = await Promise.all(nodes.map(async n => (await idsOf(n, stream)).length))
  if (!listed.every(c => c === count)) return false
  const latest = await Promise.all(nodes.map(async n => await localLatest(n, stream)))
  return latest[0] !== undefined && latest.every(id => id === latest[0])
}

/** Every id of `stream` the node holds, as a sorted list (history is newest first, paged). */
export async function idsOf (node: IdlemeshNode, stream: string): Promise<string[]> {
  const views = await node.checkpoints.history(stream, { limit: 100_000 })
  return views.map(v => v.id).sort()
}

/** Cuts every connection between the two sides and refuses redials both ways (the gater). */
export async function split (left: IdlemeshNode[], right: IdlemeshNode[], relays: IdlemeshNode[] = []): Promise<void> {
  for (const a of left) {
    for (const b of right) {
      await a.mesh.denyPeer(b.peerId)
      await b.mesh.denyPeer(a.peerId)
    }
  }
  await waitFor(() => left.every(a => right.every(b => !a.mesh.isConnected(b.peerId) && !b.mesh.isConnected(a.peerId))), { what: 'the two sides to be disconnected' })
  // A relay forwards between the sides only once it knows they are no longer linked (a
  // heartbeat announces a dropped link within milliseconds; see Mesh.setValidator).
  await waitFor(() => relays.every(r => left.every(a => right.every(b => !r.membership.linked(a.peerId, b.peerId)))), { what: 'the relays to learn the sides are not linked' })
}

/** Lifts a split; nobody is told to reconnect: the reconnect loop does it. */
export function heal (left: IdlemeshNode[], right: IdlemeshNode[]): void {
  for (const a of left) {
    for (const b of right) {
      a.mesh.undenyPeer(b.peerId)
      b.mesh.undenyPeer(a.peerId)
    }
  }
}

/**
 * Counts what a stopped node's data dir holds durably, by opening its LevelDB directly (the
 * node must be stopped: LevelDB allows one opener).
 */
export async function countOnDisk (dataDir: string, stream: string): Promise<number> {
  const db = await openStore(join(dataDir, DATA_FILES.store))
  try {
    const store = new CheckpointStore(sublevel(db, 'cp'), silentLogger(), { blobDir: join(dataDir, 'blobs') })
    await store.open()
    return store.count(stream)
  } finally {
    await db.close()
  }
}

/** The signer of the node whose data dir this is: what that node signs its checkpoints with. */
export function signerOf (dataDir: string): Signer {
  return createSigner(loadIdentity(dataDir).privateKey.raw)
}

/**
 * A checkpoint sealed exactly as the node of `dataDir` would seal it (its key, the mesh keyring),
 * but stored nowhere and announced to no one.
 */
export function sealAs (dataDir: string, stream: string, payload: Uint8Array, parents: Head[] = [], signer: Signer = signerOf(dataDir)): Checkpoint {
  const keyring = createKeyring(loadMeshSecret(dataDir).checkpointKeys)
  return sealCheckpoint({ stream, parents, payload, meta: { label: 'crafted' }, keyring, signer })
}

/** A signer that claims `peerId` as author but signs with another key: a forgery. */
export function impostor (peerId: string): Signer {
  const other = randomSigner()
  return { peerId, publicKey: other.publicKey, sign: other.sign }
}

/** The envelope bytes with one ciphertext byte flipped; the signature is left as it was. */
export function flipCiphertextByte (bytes: Uint8Array): Uint8Array {
  const out = bytes.slice()
  // The ciphertext is the last entry of a canonical envelope: its last bytes are the AEAD tag.
  const at = out.length - 20
  out[at] = (out[at] as number) ^ 0x01
  return out
}

/**
 * The envelope with one ciphertext byte flipped and then signed again by `signer` (its real
 * author): the id and signature are valid, only the payload no longer authenticates.
 */
export function tamperAndResign (bytes: Uint8Array, signer: Signer): { bytes: Uint8Array, id: string } {
  const { envelope } = decodeEnvelope(bytes)
  const ciphertext = envelope.ciphertext.slice()
  ciphertext[0] = (ciphertext[0] as number) ^ 0x01
  const copy: Envelope = { ...envelope, ciphertext, sig: new Uint8Array(64) }
  const id = computeId(copy)
  const signed: Envelope = { ...copy, sig: signer.sign(signingMessage(id)) }
  const out = dagCbor.encode(signed)
  return { bytes: out, id: decodeEnvelope(out).id.toString() }
}

/** The id a receiver computes for envelope bytes (the id always comes from the bytes). */
export function idOfBytes (bytes: Uint8Array): string {
  return decodeEnvelope(bytes).id.toString()
}

/**
 * Publishes raw envelope bytes on the checkpoint topic as a batch, as a misbehaving member's
 * node would: nothing is stored on the publisher and nothing is checked before it goes out.
 */
export async function publishRaw (node: IdlemeshNode, items: Uint8Array[]): Promise<number> {
  return await node.mesh.publish(CHECKPOINT_TOPIC, encodeWire({ v: 1, k: 'cps', items, ack: [] }))
}

/**
 * `observer`'s gossipsub score of `peerId`. GossipSub's public interface does not declare
 * getScore; the class behind it has it (@libp2p/gossipsub dist/src/gossipsub.d.ts).
 */
export function gossipScore (observer: IdlemeshNode, peerId: string): number {
  const pubsub = observer.mesh.libp2p.services.pubsub as unknown as { getScore: (peerId: string) => number }
  return pubsub.getScore(peerId)
}

/** Peers `node` has in its gossipsub mesh for the checkpoint topic (those it forwards to). */
export function checkpointMeshPeers (node: IdlemeshNode): string[] {
  const pubsub = node.mesh.libp2p.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }
  return pubsub.getMeshPeers(CHECKPOINT_TOPIC).map(String)
}
