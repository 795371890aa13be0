import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import type { CheckpointService, CheckpointView, LatestOptions, PostInput, PostResult } from '../../src/checkpoints/service-types.ts'
import type { ChainReport } from '../../src/checkpoints/verify-chain.ts'
import { IdlemeshError } from '../../src/errors.ts'

/**
 * An in-memory CheckpointService for tests of the HTTP edge and the CLI: a linear chain per
 * stream, recording every call so a test can tell that bad input never reached it.
 */
export const FAKE_AUTHOR = '12D3KooWFakeAuthorPeerIdForCheckpointTests0000000'

export function fakeId (seed: string): string {
  return CID.createV1(0x71, Digest.create(0x12, createHash('sha256').update(seed).digest())).toString()
}

export interface FakeEntry { view: CheckpointView, payload: Uint8Array }

export interface FakeServiceOptions {
  /** Peer IDs reported as having confirmed a copy, by index. @default `peer-${i}` */
  replicaId?: (i: number) => string
  /** Peers a non-local `latest` reports it asked (2 of them answer). @default 3 */
  peersAsked?: number
}

export function fakeService (options: FakeServiceOptions = {}) {
  const replicaId = options.replicaId ?? ((i: number) => `peer-${i}`)
  const peersAsked = options.peersAsked ?? 3
  const entries: FakeEntry[] = []
  const calls: Array<{ method: string, args: unknown[] }> = []
  const state: { failPost?: Error, broken?: string } = {}
  const ofStream = (stream: string): FakeEntry[] => entries.filter(e => e.view.stream === stream).sort((a, b) => b.view.seq - a.view.seq)
  const notFound = (what: string): IdlemeshError => new IdlemeshError('CHECKPOINT_NOT_FOUND', what, { status: 404 })
  const service: CheckpointService = {
    async post (input: PostInput): Promise<PostResult> {
      calls.push({ method: 'post', args: [input] })
      if (state.failPost !== undefined) throw state.failPost
      const previous = ofStream(input.stream)[0]
      const seq = (previous?.view.seq ?? 0) + 1
      const view: CheckpointView = {
        id: fakeId(`${input.stream}/${seq}/${Buffer.from(input.payload).toString('hex')}`),
        stream: input.stream,
        seq,
        parents: previous === undefined ? [] : [previous.view.id],
        author: FAKE_AUTHOR,
        time: Date.UTC(2025, 4, 6, 7, 8, seq),
        meta: input.meta ?? {},
        keyId: 'k1',
        size: input.payload.length + 180
      }
      entries.push({ view, payload: input.payload.slice() })
      return { ...view, confirmedBy: Array.from({ length: input.replicas ?? 0 }, (_, i) => replicaId(i)) }
    },
    async latest (stream: string, latestOptions?: LatestOptions) {
      calls.push({ method: 'latest', args: [stream, latestOptions] })
      const top = ofStream(stream)[0]
      if (top === undefined) throw notFound(`stream ${stream} has no checkpoints`)
      const local = latestOptions?.local === true
      return { checkpoint: top.view, payload: top.payload, confirmed: !local, peersAsked: local ? 0 : peersAsked, peersAnswered: local ? 0 : 2, source: 'local' as const }
    },
    async get (id: string) {
      calls.push({ method: 'get', args: [id] })
      const entry = entries.find(e => e.view.id === id)
      if (entry === undefined) throw notFound(`no checkpoint ${id}`)
      return { checkpoint: entry.view, payload: entry.payload }
    },
    async history (stream, historyOptions) {
      calls.push({ method: 'history', args: [stream, historyOptions] })
      return ofStream(stream).map(e => e.view).filter(v => historyOptions?.beforeSeq === undefined || v.seq < historyOptions.beforeSeq).slice(0, historyOptions?.limit ?? 50)
    },
    async streams () {
      calls.push({ method: 'streams', args: [] })
      return [...new Set(entries.map(e => e.view.stream))].map(stream => {
        const list = ofStream(stream)
        const top = list[0] as FakeEntry
        return { stream, count: list.length, heads: 1, latest: { id: top.view.id, seq: top.view.seq } }
      })
    },
    async verify (stream: string, verifyOptions?: { payloads?: boolean }): Promise<ChainReport> {
      calls.push({ method: 'verify', args: [stream, verifyOptions] })
      const list = ofStream(stream)
      if (state.broken !== stream || list.length === 0) return { ok: true, checked: list.length, problems: [] }
      const child = CID.parse((list[0] as FakeEntry).view.id)
      const parent = CID.parse(fakeId('gone'))
      const problem = { id: child, parent, reason: 'missing_parent' as const, detail: `parent ${parent.toString()} is not stored` }
      return { ok: false, checked: list.length, firstBroken: problem, problems: [problem] }
    },
    async health () {
      return { streams: [], syncBacklog: 0, rejected: {}, stored: entries.length }
    }
  }
  return {
    service,
    calls,
    entries,
    state,
    /** What post() was given, in order. */
    get posts (): PostInput[] { return calls.filter(c => c.method === 'post').map(c => c.args[0] as PostInput) }
  }
}
