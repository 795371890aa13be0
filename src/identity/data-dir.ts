import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { IdlemeshError } from '../errors.ts'
import { decodeMeshSecret, encodeMeshSecret, generateMeshSecret, newCheckpointKey, type MeshSecret } from './mesh-secret.ts'

/** Files of a node's data directory. */
export const DATA_FILES = {
  nodeKey: 'node.key',
  meshSecret: 'mesh.secret',
  runtime: 'runtime.json',
  config: 'config.yaml',
  store: 'store'
} as const

export function defaultDataDir (env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.IDLEMESH_DATA_DIR ?? join(homedir(), '.idlemesh'))
}

export interface Identity {
  privateKey: PrivateKey
  peerId: string
}

export interface InitDataDirOptions {
  /** Join an existing mesh: copy this mesh secret instead of creating a new one. */
  meshSecretFile?: string
  /** Replace existing keys. Without it, existing keys are an error. */
  force?: boolean
}

export interface InitResult {
  dataDir: string
  peerId: string
  meshSecretPath: string
  /** True when a new mesh secret was created (this is the first node of a new mesh). */
  newMesh: boolean
}

/**
 * Creates the node identity (Ed25519) and the mesh secret in `dataDir`, both mode 0600.
 * Everything is validated before anything is written, so a refused init leaves no trace.
 */
export async function initDataDir (dataDir: string, options: InitDataDirOptions = {}): Promise<InitResult> {
  const dir = resolve(dataDir)
  const keyPath = join(dir, DATA_FILES.nodeKey)
  const secretPath = join(dir, DATA_FILES.meshSecret)

  if (options.force !== true) {
    for (const path of [keyPath, secretPath]) {
      if (existsSync(path)) {
        throw new IdlemeshError('INIT_WOULD_OVERWRITE', `${path} already exists; refusing to overwrite keys (use --force to replace them)`, { status: 409 })
      }
    }
  }

  let secret: MeshSecret
  let newMesh = true
  if (options.meshSecretFile !== undefined) {
    secret = decodeMeshSecret(readSecretFile(options.meshSecretFile, 'mesh secret').toString('utf8'), options.meshSecretFile)
    newMesh = false
  } else {
    secret = generateMeshSecret()
  }

  const privateKey = await generateKeyPair('Ed25519')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  writePrivateFile(keyPath, privateKeyToProtobuf(privateKey))
  writePrivateFile(secretPath, encodeMeshSecret(secret))
  return { dataDir: dir, peerId: peerIdFromPrivateKey(privateKey).toString(), meshSecretPath: secretPath, newMesh }
}

export function isInitialised (dataDir: string): boolean {
  return existsSync(join(dataDir, DATA_FILES.nodeKey)) && existsSync(join(dataDir, DATA_FILES.meshSecret))
}

export function loadIdentity (dataDir: string): Identity {
  const path = join(dataDir, DATA_FILES.nodeKey)
  const bytes = readSecretFile(path, 'node key')
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new IdlemeshError('NODE_KEY_INVALID', `${path} is not a libp2p private key; restore it from a backup or re-create it with 'idlemesh init --force' (a new peer ID)`, { status: 400, cause: err })
  }
  if (privateKey.type !== 'Ed25519') {
    throw new IdlemeshError('NODE_KEY_INVALID', `${path} holds a ${privateKey.type} key; idlemesh nodes use Ed25519`, { status: 400 })
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() }
}

export function loadMeshSecret (dataDir: string): MeshSecret {
  const path = join(dataDir, DATA_FILES.meshSecret)
  return decodeMeshSecret(readSecretFile(path, 'mesh secret').toString('utf8'), path)
}

/**
 * Appends a new checkpoint key to this data dir's mesh secret; the node seals with it from its
 * next start. Returns the new key's id. Copy the file to every node of the mesh.
 */
export function addCheckpointKey (dataDir: string, now = new Date()): { keyId: string, meshSecretPath: string, keyIds: string[] } {
  const path = join(dataDir, DATA_FILES.meshSecret)
  const secret = loadMeshSecret(dataDir)
  const key = newCheckpointKey(now)
  const updated: MeshSecret = { ...secret, checkpointKeys: [...secret.checkpointKeys, key] }
  writePrivateFile(path, encodeMeshSecret(updated))
  return { keyId: key.id, meshSecretPath: path, keyIds: updated.checkpointKeys.map(k => k.id) }
}

function readSecretFile (path: string, what: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const hint = code === 'ENOENT' ? `; run 'idlemesh init' first` : code === 'EACCES' ? '; check its owner and mode (0600, owned by the user running idlemesh)' : ''
    throw new IdlemeshError(code === 'ENOENT' ? 'KEY_FILE_MISSING' : 'KEY_FILE_UNREADABLE', `cannot read ${what} ${path}: ${code ?? String(err)}${hint}`, { status: 400, cause: err })
  }
}

/** Mode bits a key file must not have: anything for group or others. */
export function keyFileTooOpen (path: string): boolean {
  return (statSync(path).mode & 0o077) !== 0
}

/** Written to a temporary name and renamed, so a crash never leaves half a key. */
function writePrivateFile (path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`
  try {
    writeFileSync(tmp, data, { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw err
  }
}
