import { createRequire } from 'node:module'

/**
 * @libp2p/pnet encrypts with the `xsalsa20` package, whose WASM ciphers share one memory. Each
 * cipher keeps its own view of that memory; growing the memory detaches every other cipher's
 * view (its length drops to 0), and that cipher's next large input grows the memory again by
 * the whole input size. With two ciphers per connection the growth adds up across connections
 * until WebAssembly refuses ("Maximum memory size exceeded") and the process dies on an
 * ordinary 10 MiB transfer. The fix keeps the algorithm and the package: before growing, look
 * at the live memory size and grow only past it.
 */
interface WasmCipher {
  _memory: Uint8Array
  realloc: (size: number) => void
}

let applied = false

export function applyPnetMemoryFix (): void {
  if (applied) return
  applied = true
  // pnet resolves `xsalsa20` from its own folder; patch that very copy.
  const requireFromPnet = createRequire(createRequire(import.meta.url).resolve('@libp2p/pnet'))
  const xsalsa20 = requireFromPnet('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => { _xor: WasmCipher }
  const probe = xsalsa20(new Uint8Array(24), new Uint8Array(32))._xor
  const proto = Object.getPrototypeOf(probe) as WasmCipher
  // The pure-JS fallback (no WebAssembly) has no shared memory and needs no fix.
  if (typeof proto.realloc !== 'function') return
  const originalRealloc = proto.realloc
  // Every growth goes through realloc, so the view it leaves behind is the live one until the
  // next growth (a grown memory detaches old views: their length drops to 0).
  let live = probe._memory
  proto.realloc = function (this: WasmCipher, size: number): void {
    this._memory = live
    if (size < live.length) return
    originalRealloc.call(this, size + 1)
    live = this._memory
  }
}
