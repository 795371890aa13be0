import sodium from 'sodium-native'

/**
 * Ed25519 (RFC 8032) through libsodium. Every checkpoint is verified once by every node that
 * receives it, which makes verification the largest cost of replication: libsodium verifies in
 * ~51 µs here against ~104 µs for node:crypto (OpenSSL) and ~1.6 ms for @noble/curves. Same
 * algorithm and deterministic signatures: test/checkpoints/crypto.test.ts checks both against
 * @noble/curves.
 */
export const SIGNATURE_BYTES = 64

/** `secretKey`: 64 bytes, seed || public key (libp2p's Ed25519 `raw` and libsodium's format). */
export function ed25519Sign (secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  const signature = new Uint8Array(SIGNATURE_BYTES)
  sodium.crypto_sign_detached(signature, message, secretKey)
  return signature
}

export function ed25519Verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== 32) return false
  return sodium.crypto_sign_verify_detached(signature, message, publicKey)
}
