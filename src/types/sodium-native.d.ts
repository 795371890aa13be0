// The part of sodium-native (libsodium bindings) idlemesh uses; the package ships no types.
declare module 'sodium-native' {
  export function crypto_sign_detached (signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void
  export function crypto_sign_verify_detached (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean
  /** Writes ciphertext || tag into `out` (message length + 16); returns the bytes written. */
  export function crypto_aead_xchacha20poly1305_ietf_encrypt (out: Uint8Array, message: Uint8Array, ad: Uint8Array | null, nsec: null, nonce: Uint8Array, key: Uint8Array): number
  /** Writes the plaintext into `out` (ciphertext length − 16); throws when the tag does not verify. */
  export function crypto_aead_xchacha20poly1305_ietf_decrypt (out: Uint8Array, nsec: null, ciphertext: Uint8Array, ad: Uint8Array | null, nonce: Uint8Array, key: Uint8Array): number
  /** ChaCha20-Poly1305 (IETF), as Noise uses it; same conventions as the XChaCha20 pair above. */
  export function crypto_aead_chacha20poly1305_ietf_encrypt (out: Uint8Array, message: Uint8Array, ad: Uint8Array | null, nsec: null, nonce: Uint8Array, key: Uint8Array): number
  export function crypto_aead_chacha20poly1305_ietf_decrypt (out: Uint8Array, nsec: null, ciphertext: Uint8Array, ad: Uint8Array | null, nonce: Uint8Array, key: Uint8Array): number
  /** XSalsa20 as a stream: `state` (crypto_stream_xor_STATEBYTES) carries the position between updates. */
  export function crypto_stream_xor_init (state: Uint8Array, nonce: Uint8Array, key: Uint8Array): void
  export function crypto_stream_xor_update (state: Uint8Array, out: Uint8Array, input: Uint8Array): void
  export function crypto_stream_xor_final (state: Uint8Array): void
  export const crypto_stream_xor_STATEBYTES: number
  export const crypto_sign_BYTES: number
  export const crypto_sign_PUBLICKEYBYTES: number
  export const crypto_sign_SECRETKEYBYTES: number
}
