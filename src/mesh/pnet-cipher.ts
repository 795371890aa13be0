import { createRequire } from 'node:module'
import sodium from 'sodium-native'

/**
 * @libp2p/pnet runs every byte of every connection through XSalsa20 from the `xsalsa20`
 * package: WebAssembly at about 550 MB/s on these machines, a sizeable share of the CPU a node
 * spends per gossiped byte. libsodium's `crypto_stream_xor` is the same cipher (XSalsa20) at
 * about 2.6 GB/s. pnet creates its ciphers through that package, so the package stays; what
 * changes is the work behind each cipher. The package's constructor writes the nonce and key
 * into its WebAssembly memory and stores its cipher state as `_xor`; that assignment is caught
 * here, the nonce and key go into a libsodium stream state, and the package's slot is freed at
 * once, wiped.
 *
 * Freeing at once matters: pnet never finalizes its ciphers, and each holds a 64-byte slot of a
 * memory that (without the package's own growth on large inputs) has room for ~10,000 of them.
 * Connections that exchange nonces and nothing else, cheap for anyone who can reach the port,
 * would otherwise exhaust it and leave the node unable to connect. The memory also never grows,
 * which retires an old bug of the package: its ciphers each grew the shared memory by the size
 * of their inputs until a 10 MiB transfer hit WebAssembly's limit and killed the process.
 */
interface WasmCipher {
  /** The package's view of its memory, current when the cipher was made. */
  _memory: Uint8Array
  /** Offsets of the nonce (24 bytes) and key (32 bytes) in that memory. */
  _nonce: number
  _key: number
  finalize: () => void
}

interface XSalsa20 {
  (nonce: Uint8Array, key: Uint8Array): { _xor: unknown, update: (input: Uint8Array, output?: Uint8Array) => Uint8Array, finalize: () => void }
  prototype: object
}

/** What `_xor` becomes: the package's update/finalize call these. */
class SodiumXSalsa20 {
  private readonly state = Buffer.alloc(sodium.crypto_stream_xor_STATEBYTES)

  constructor (nonce: Uint8Array, key: Uint8Array) {
    sodium.crypto_stream_xor_init(this.state, nonce, key)
  }

  update (input: Uint8Array, output: Uint8Array): void {
    sodium.crypto_stream_xor_update(this.state, output, input)
  }

  finalize (): void {
    sodium.crypto_stream_xor_final(this.state)
  }
}

let applied = false

export function applyPnetSodiumCipher (): void {
  if (applied) return
  applied = true
  // pnet resolves `xsalsa20` from its own folder; patch that very copy.
  const requireFromPnet = createRequire(createRequire(import.meta.url).resolve('@libp2p/pnet'))
  const xsalsa20 = requireFromPnet('xsalsa20') as XSalsa20
  const probe = xsalsa20(new Uint8Array(24), new Uint8Array(32))
  const wasm = probe._xor as Partial<WasmCipher>
  probe.finalize()
  // Without WebAssembly the package falls back to plain JS, which keeps no nonce or key to take.
  if (typeof wasm._nonce !== 'number') return
  const ciphers = new WeakMap<object, SodiumXSalsa20>()
  Object.defineProperty(xsalsa20.prototype, '_xor', {
    configurable: true,
    get (this: object): SodiumXSalsa20 | undefined { return ciphers.get(this) },
    set (this: object, value: WasmCipher | null) {
      if (value === null) { ciphers.delete(this); return }
      const memory = value._memory
      ciphers.set(this, new SodiumXSalsa20(memory.subarray(value._nonce, value._nonce + 24), memory.subarray(value._key, value._key + 32)))
      // Wipes the nonce and key and returns the slot to the package's free list.
      value.finalize()
    }
  })
}
