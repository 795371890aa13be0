import { KEY_BYTES, deriveStreamKey } from './crypto.ts'
import { checkpointError } from './format-errors.ts'

/**
 * The checkpoint keys of the mesh secret. Rotation works like memberlist's keyring: the newest
 * key seals, every key still listed opens, so nodes can add a key, switch to it, and retire the
 * old one later without a window where some node cannot read.
 */
export interface Keyring {
  /** Id of the key that seals new checkpoints: the last one given. */
  readonly sealKeyId: string
  readonly keyIds: readonly string[]
  has: (keyId: string) => boolean
  /** The derived XChaCha20-Poly1305 key of `stream` under `keyId`; throws CHECKPOINT_UNKNOWN_KEY. */
  streamKey: (keyId: string, stream: string) => Uint8Array
}

export interface KeyringEntry {
  id: string
  /** 32-byte master key. */
  key: Uint8Array
}

export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/

/** Derived keys kept per keyring; HKDF per message would cost more than the encryption itself. */
const STREAM_KEY_CACHE_MAX = 1024

/** `keys`: oldest first, newest last. Master keys are copied and never exposed again. */
export function createKeyring (keys: KeyringEntry[]): Keyring {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw checkpointError('CHECKPOINT_BAD_KEYRING', 'the mesh secret holds no checkpoint key: add one with a 32-byte key')
  }
  const masters = new Map<string, Uint8Array>()
  for (const entry of keys) {
    if (typeof entry?.id !== 'string' || !KEY_ID_PATTERN.test(entry.id)) {
      throw checkpointError('CHECKPOINT_BAD_KEYRING', 'checkpoint key ids must be 1-64 characters of [A-Za-z0-9._-]')
    }
    if (!(entry.key instanceof Uint8Array) || entry.key.length !== KEY_BYTES) {
      throw checkpointError('CHECKPOINT_BAD_KEYRING', `checkpoint key ${entry.id} must be ${KEY_BYTES} bytes`)
    }
    if (masters.has(entry.id)) throw checkpointError('CHECKPOINT_BAD_KEYRING', `checkpoint key id ${entry.id} is listed twice`)
    masters.set(entry.id, entry.key.slice())
  }
  const keyIds = Object.freeze([...masters.keys()])
  const derived = new Map<string, Uint8Array>()

  return Object.freeze({
    sealKeyId: keyIds[keyIds.length - 1] as string,
    keyIds,
    has: (keyId: string) => masters.has(keyId),
    streamKey (keyId: string, stream: string): Uint8Array {
      // keyIds cannot contain '\n' (KEY_ID_PATTERN), so the cache key is unambiguous.
      const cacheKey = keyId + '\n' + stream
      let key = derived.get(cacheKey)
      if (key !== undefined) return key
      const master = masters.get(keyId)
      if (master === undefined) {
        throw checkpointError('CHECKPOINT_UNKNOWN_KEY', `no checkpoint key with id ${JSON.stringify(keyId)}: add it to the mesh secret`)
      }
      key = deriveStreamKey(master, stream)
      if (derived.size >= STREAM_KEY_CACHE_MAX) {
        const oldest = derived.keys().next().value
        if (oldest !== undefined) derived.delete(oldest)
      }
      derived.set(cacheKey, key)
      return key
    }
  })
}
