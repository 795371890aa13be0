import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BLOB_MIN_BYTES, CheckpointStore, createKeyring, createSigner, sealCheckpoint, type Checkpoint, type Head } from '../../src/checkpoints/index.ts'
import { openStore, sublevel, type Store } from '../../src/store/index.ts'
import { silentLogger } from '../../src/logger.ts'
import { tempDirs, type TempDirs } from '../helpers/nodes.ts'

describe('checkpoint store', () => {
  let dirs: TempDirs
  let db: Store | undefined
  const keyring = createKeyring([{ id: 'k1', key: randomBytes(32) }])

  beforeEach(() => { dirs = tempDirs() })
  afterEach(async () => {
    await db?.close()
    db = undefined
    dirs.cleanup()
  })

  async function openCheckpoints (): Promise<CheckpointStore> {
    db = await openStore(dirs.dir('db'))
    const store = new CheckpointStore(sublevel(db, 'cp'), silentLogger(), { blobDir: dirs.dir('blobs') })
    await store.open()
    return store
  }

  async function chain (sizes: number[]): Promise<Checkpoint[]> {
    const signer = createSigner((await generateKeyPair('Ed25519')).raw)
    let parents: Head[] = []
    return sizes.map(size => {
      const cp = sealCheckpoint({ stream: 's', parents, payload: randomBytes(size), keyring, signer })
      parents = [{ id: cp.id, seq: cp.envelope.seq }]
      return cp
    })
  }

  it('keeps large envelopes in files and small ones in LevelDB, byte for byte across a reopen', async () => {
    const [small, large, after] = await chain([100, BLOB_MIN_BYTES + 10, 200]) as [Checkpoint, Checkpoint, Checkpoint]
    let store = await openCheckpoints()
    await Promise.all([small, large, after].map(async cp => { await store.put(cp).durable }))
    expect(readdirSync(dirs.dir('blobs'))).toEqual([large.id.toString()])
    await db?.close()
    store = await openCheckpoints()
    for (const cp of [small, large, after]) expect(Buffer.from(await store.getBytes(cp.id.toString()) as Uint8Array).equals(Buffer.from(cp.bytes))).toBe(true)
    expect(store.latest('s')?.id.toString()).toBe(after.id.toString())
    expect(await store.history('s', { limit: 10 })).toEqual([after, large, small].map(cp => cp.id.toString()))
  })

  it('heads stay right when a large checkpoint and its child are written in one group commit', async () => {
    const [large, child] = await chain([BLOB_MIN_BYTES * 2, 10]) as [Checkpoint, Checkpoint]
    let store = await openCheckpoints()
    // The child's batch deletes the large one's head: it must not land before the large one's.
    await Promise.all([store.put(large).durable, store.put(child).durable])
    await db?.close()
    store = await openCheckpoints()
    expect(store.streamHeads('s').map(h => h.id.toString())).toEqual([child.id.toString()])
  })

  it('removes a blob file no checkpoint names (a crash between the file and its batch)', async () => {
    const store = await openCheckpoints()
    await db?.close()
    mkdirSync(dirs.dir('blobs'), { recursive: true })
    writeFileSync(join(dirs.dir('blobs'), 'bafyorphan'), 'x')
    writeFileSync(join(dirs.dir('blobs'), 'bafyhalf.tmp'), 'x')
    expect(store.size).toBe(0)
    await openCheckpoints()
    expect(existsSync(join(dirs.dir('blobs'), 'bafyorphan'))).toBe(false)
    expect(existsSync(join(dirs.dir('blobs'), 'bafyhalf.tmp'))).toBe(false)
  })
})
