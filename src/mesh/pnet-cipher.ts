import { createRequire } from 'node:module'
import sodium from 'sodium-native'

/**
 * @libp2p/pnet runs every byte of every connection through XSalsa20 from the `xsalsa20`
 * package: WebAssembly at about 550 MB/s on these machines, a sizeable share of the CPU a node
 * spends per gossiped byte. libsodium's `crypto_stream_xor` is the same cipher (XSalsa20) at
 * about 2.6 GB/s. pnet creates its ciphers through that package, so the package stays; what
 * changes is the work behind each cipher: on its first use a cipher takes the nonce and key the
 * package wrote into its WebAssembly memory and from then on runs on a libsodium stream state.
 *
 * This also retires a bug of the package: its ciphers share one WebAssembly memory that each
 * grew by the size of its inputs, until a 10 MiB transfer on a few connections hit
 * WebAssembly's limit and killed the process. The memory now never grows.
 */
interface WasmCipher {
  /** The package's view of the shared memory, current when the cipher was made. */
  _memory: Uint8Array
  /** Offsets of the nonce (24 bytes) and key (32 bytes) in that memory. */
  _nonce: number
  _key: number
  update: (input: Uint8Array, output: Uint8Array) => void
  finalize: () => void
  sodiumState?: Buffer
}

type XSalsa20 = (nonce: Uint8Array, key: Uint8Array) => { _xor: WasmCipher }

let applied = false

export function applyPnetSodiumCipher (): void {
  if (applied) return
  applied = true
  // pnet resolves `xsalsa20` from its own folder; patch that very copy.
  const requireFromPnet = createRequire(createRequire(import.meta.url).resolve('@libp2p/pnet'))
  const xsalsa20 = requireFromPnet('xsalsa20') as XSalsa20
  const probe = xsalsa20(new Uint8Array(24), new Uint8Array(32))._xor
  const proto = Object.getPrototypeOf(probe) as WasmCipher
  // Without WebAssembly the package falls back to plain JS, which keeps no nonce or key to take.
  if (typeof probe._nonce !== 'number') return
  const finalize = proto.finalize
  proto.update = function (this: WasmCipher, input: Uint8Array, output: Uint8Array): void {
    let state = this.sodiumState
    if (state === undefined) {
      state = this.sodiumState = Buffer.alloc(sodium.crypto_stream_xor_STATEBYTES)
      sodium.crypto_stream_xor_init(state, this._memory.subarray(this._nonce, this._nonce + 24), this._memory.subarray(this._key, this._key + 32))
      // The key is in libsodium's state now: wipe the package's copy.
      this._memory.fill(0, this._key, this._key + 32)
    }
    sodium.crypto_stream_xor_update(state, output, input)
  }
  proto.finalize = function (this: WasmCipher): void {
    if (this.sodiumState !== undefined) sodium.crypto_stream_xor_final(this.sodiumState)
    finalize.call(this)
  }
}
