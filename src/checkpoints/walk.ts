import type { IndexEntry } from './store.ts'

/**
 * Which checkpoints a peer lacks: everything reachable from `from` that is not an ancestor-or-self
 * of the peer's heads (`have`), in ascending seq order (parents before children, the order the
 * peer can store them in). Walks in descending seq with a max-heap, so the walk stops at the
 * point where the two histories meet instead of visiting all of history: a node popped from the
 * heap has had every child already visited, so whether the peer has it is known by then.
 */
export function missingFor (from: Iterable<string>, have: Iterable<string>, entry: (id: string) => IndexEntry | undefined, limit = Infinity): string[] {
  const peerHas = new Map<string, boolean>()
  const heap = new MaxHeap()
  for (const id of have) {
    const e = entry(id)
    if (e !== undefined && peerHas.get(id) !== true) { peerHas.set(id, true); heap.push(id, e.seq) }
  }
  let pendingSends = 0
  for (const id of from) {
    const e = entry(id)
    if (e !== undefined && !peerHas.has(id)) { peerHas.set(id, false); heap.push(id, e.seq); pendingSends++ }
  }
  const send: string[] = []
  while (heap.size > 0 && pendingSends > 0 && send.length < limit) {
    const id = heap.pop() as string
    const has = peerHas.get(id) === true
    if (!has) { send.push(id); pendingSends-- }
    for (const parent of entry(id)?.parents ?? []) {
      const known = peerHas.get(parent)
      if (known === true) continue
      const e = entry(parent)
      if (e === undefined) continue
      if (known === undefined) {
        peerHas.set(parent, has)
        heap.push(parent, e.seq)
        if (!has) pendingSends++
      } else if (has) {
        // Reached again from the peer's side: the peer has it after all.
        peerHas.set(parent, true)
        pendingSends--
      }
    }
  }
  return send.reverse()
}

/**
 * Ancestors of `head` at distances 1, 2, 4, … along first parents, up to `maxSteps` back: what a
 * sync request sends with its heads. A peer that is behind knows none of the heads, but it knows
 * one of these, so it sends back at most about twice the gap rather than its whole history
 * (missingFor treats every id it knows in `have` as held with all its ancestors).
 */
export function ancestorSample (head: string, entry: (id: string) => IndexEntry | undefined, maxSteps = 4096): string[] {
  const sample: string[] = []
  let id = head
  let next = 1
  for (let step = 1; step <= maxSteps; step++) {
    const parent = entry(id)?.parents[0]
    if (parent === undefined) break
    id = parent
    if (step === next) {
      sample.push(id)
      next *= 2
    }
  }
  return sample
}

class MaxHeap {
  private readonly ids: string[] = []
  private readonly keys: number[] = []

  get size (): number { return this.ids.length }

  push (id: string, key: number): void {
    this.ids.push(id)
    this.keys.push(key)
    let i = this.ids.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if ((this.keys[parent] as number) >= key) break
      this.swap(i, parent)
      i = parent
    }
  }

  pop (): string | undefined {
    if (this.ids.length === 0) return undefined
    const top = this.ids[0]
    const lastId = this.ids.pop() as string
    const lastKey = this.keys.pop() as number
    if (this.ids.length > 0) {
      this.ids[0] = lastId
      this.keys[0] = lastKey
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < this.keys.length && (this.keys[l] as number) > (this.keys[m] as number)) m = l
        if (r < this.keys.length && (this.keys[r] as number) > (this.keys[m] as number)) m = r
        if (m === i) break
        this.swap(i, m)
        i = m
      }
    }
    return top
  }

  private swap (a: number, b: number): void {
    [this.ids[a], this.ids[b]] = [this.ids[b] as string, this.ids[a] as string]
    ;[this.keys[a], this.keys[b]] = [this.keys[b] as number, this.keys[a] as number]
  }
}
