import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { IdlemeshError } from '../errors.ts'

/**
 * The mesh secret: one file shared by every node of a mesh. It holds the libp2p private-network
 * pre-shared key (a process without it cannot finish a connection) and the checkpoint master
 * keys. Keys are a ring: the last one seals new checkpoints, every one opens old ones, so a
 * mesh rotates by appending a key and distributing the file before anyone seals with it.
 */
export interface MeshSecret {
  v: 1
  /** 32-byte pre-shared key for @libp2p/pnet. */
  psk: Uint8Array
  /** Checkpoint master keys, oldest first; the last seals. */
  checkpointKeys: Array<{ id: string, key: Uint8Array, createdAt: string }>
}

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits (32 bytes)')

const fileSchema = z.object({
  idlemesh: z.literal('mesh-secret'),
  v: z.literal(1),
  psk: hex32,
  checkpointKeys: z.array(z.object({
    id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    key: hex32,
    createdAt: z.string()
  })).min(1)
})

export function generateMeshSecret (now = new Date()): MeshSecret {
  return { v: 1, psk: randomBytes(32), checkpointKeys: [newCheckpointKey(now)] }
}

export function newCheckpointKey (now = new Date()): MeshSecret['checkpointKeys'][number] {
  return { id: `k${now.getTime().toString(36)}${randomBytes(3).toString('hex')}`, key: randomBytes(32), createdAt: now.toISOString() }
}

export function encodeMeshSecret (secret: MeshSecret): string {
  const file = {
    idlemesh: 'mesh-secret',
    v: secret.v,
    psk: Buffer.from(secret.psk).toString('hex'),
    checkpointKeys: secret.checkpointKeys.map(k => ({ id: k.id, key: Buffer.from(k.key).toString('hex'), createdAt: k.createdAt }))
  }
  return JSON.stringify(file, null, 2) + '\n'
}

export function decodeMeshSecret (text: string, source: string): MeshSecret {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new IdlemeshError('MESH_SECRET_INVALID', `${source} is not an idlemesh mesh secret (not JSON)`, { status: 400 })
  }
  const parsed = fileSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new IdlemeshError('MESH_SECRET_INVALID', `${source} is not a valid idlemesh mesh secret: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`, { status: 400 })
  }
  return {
    v: 1,
    psk: Buffer.from(parsed.data.psk, 'hex'),
    checkpointKeys: parsed.data.checkpointKeys.map(k => ({ id: k.id, key: Buffer.from(k.key, 'hex'), createdAt: k.createdAt }))
  }
}

/** The PSK in the text form @libp2p/pnet reads (the go-ipfs swarm.key format). */
export function swarmKey (secret: MeshSecret): Uint8Array {
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${Buffer.from(secret.psk).toString('hex')}`)
}
