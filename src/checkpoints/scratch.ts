/**
 * One reusable buffer for plaintexts that are only checked, never kept: every checkpoint a
 * node receives must decrypt before it is stored, and the plaintext is then thrown away.
 * Writing into fresh memory costs a page fault per 4 KiB page (~35 ms for 64 MiB here, as much
 * as the decryption itself); writing into memory touched before costs none. The buffer grows to
 * the largest size asked for and is let go after `releaseAfterMs` without use, so a node that
 * received one large checkpoint does not hold its size for good.
 */
export class ScratchBuffer {
  private buffer?: Uint8Array
  private lastUsedAt = 0
  private timer?: NodeJS.Timeout
  private readonly releaseAfterMs: number

  constructor (releaseAfterMs = 10_000) {
    this.releaseAfterMs = releaseAfterMs
  }

  /** A view of at least `size` bytes, valid until the next call (contents undefined). */
  take (size: number): Uint8Array {
    if (this.buffer === undefined || this.buffer.length < size) this.buffer = new Uint8Array(size)
    this.lastUsedAt = Date.now()
    this.timer ??= this.armRelease()
    return this.buffer.subarray(0, size)
  }

  /** Lets the buffer go now (e.g. when the node stops). */
  release (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.buffer = undefined
  }

  private armRelease (): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timer = undefined
      if (Date.now() - this.lastUsedAt >= this.releaseAfterMs) this.buffer = undefined
      else this.timer = this.armRelease()
    }, this.releaseAfterMs)
    timer.unref()
    return timer
  }
}
