import { IdlemeshError } from '../errors.ts'

/**
 * Every error the checkpoint format raises, with the HTTP status it maps to. Codes are stable:
 * the store, replication and CLI layers match on them, so never reword or reuse one.
 */
export const CHECKPOINT_ERRORS = {
  CHECKPOINT_MALFORMED: { status: 400, description: 'the envelope bytes are not a valid, canonical v1 envelope' },
  CHECKPOINT_BAD_STREAM: { status: 400, description: 'the stream name breaks the naming rules' },
  CHECKPOINT_BAD_META: { status: 400, description: 'the clear-text metadata is invalid or too large' },
  CHECKPOINT_ID_MISMATCH: { status: 400, description: 'the content id does not match the envelope bytes' },
  CHECKPOINT_BAD_SIGNATURE: { status: 400, description: 'the signature is not valid for the author' },
  CHECKPOINT_NOT_MEMBER: { status: 403, description: 'the author is not a member of the mesh' },
  CHECKPOINT_UNKNOWN_KEY: { status: 400, description: 'the keyring holds no key with this keyId' },
  CHECKPOINT_DECRYPT_FAILED: { status: 400, description: 'the payload does not decrypt and authenticate under the claimed key' },
  CHECKPOINT_MISSING_PARENT: { status: 409, description: 'a parent named by the envelope is not known' },
  CHECKPOINT_BAD_SEQ: { status: 400, description: 'seq is not 1 + the greatest parent seq' },
  CHECKPOINT_BAD_KEYRING: { status: 500, description: 'the configured checkpoint keys are unusable' },
  CHECKPOINT_BAD_SIGNER_KEY: { status: 500, description: 'the node key cannot sign checkpoints' }
} as const

export type CheckpointErrorCode = keyof typeof CHECKPOINT_ERRORS

export function checkpointError (code: CheckpointErrorCode, message: string, cause?: unknown): IdlemeshError {
  return new IdlemeshError(code, message, { status: CHECKPOINT_ERRORS[code].status, cause })
}
