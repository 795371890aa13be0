import { EventEmitter } from 'node:events'
import type { Logger } from '../logger.ts'
import type { Mesh, PubsubMessage, MessageVerdict } from '../mesh/index.ts'
import { MAX_LINKS, MEMBERSHIP_TOPIC, decodeMembershipMessage, encodeMembershipMessage, type DeathNotice, type Heartbeat, type LoadReport } from './wire.ts'
import { probeUntilSettled } from './probe.ts'
import { RttProber } from './rtt.ts'

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

export interface Member {
  peerId: string
  self: boolean
  state: MemberState
  /** Local clock (ms) of the last heartbeat heard; 0 if none yet. */
  lastHeardAt: number
  /** Local clock (ms) at which `state` began. */
  stateSince: number
  /** Why a member is dead or left, e.g. 'no heartbeat for 6000 ms'. */
  reason?: string
  incarnation: number
  seq: number
  addrs: string[]
  httpUrl: string | null
  version: string
  load?: LoadReport
  /** Last measured round trip over a direct connection, ms. */
  rttMs?: number
  connected: boolean
}

export interface MembershipInit {
  heartbeatIntervalMs: number
  suspectAfterMs: number
  deadAfterMs: number
  forgetAfterMs: number
  rttIntervalMs: number
  version: string
  /** Announced HTTP API URL of this node (null before the API listens). */
  httpUrl: () => string | null
  loadReport: () => LoadReport
}

export interface MembershipComponents {
  mesh: Mesh
  logger: Logger
  /** Milliseconds; injectable for tests. */
  now?: () => number
}

export interface MembershipEvents {
  'member:state': [member: Member, previous: MemberState | undefined]
}

export interface MembershipCounters {
  heartbeatsReceived: number
  rejectedMessages: number
  deathNoticesSent: number
  deathNoticesApplied: number
}

const PROBE_TIMEOUT_MS = 1000
/** A dropped link is announced this soon, in one heartbeat for all the drops meanwhile. */
const LINK_CHANGE_HEARTBEAT_MS = 20

/**
 * Who is in the mesh and who is alive. Every node gossips a heartbeat (with its load report);
 * members are tracked through gossip, so a member this node has no connection to is known too.
 * Silence makes a member suspect, then dead. Two shortcuts make the common cases fast without
 * raising false deaths under load: a node stopping cleanly says goodbye (left at once), and a
 * node that crashes drops its connections and refuses new ones, which its neighbours notice in
 * milliseconds and announce to everyone else.
 */
export class Membership extends EventEmitter<MembershipEvents> {
  readonly counters: MembershipCounters = { heartbeatsReceived: 0, rejectedMessages: 0, deathNoticesSent: 0, deathNoticesApplied: 0 }
  private readonly mesh: Mesh
  private readonly log: Logger
  private readonly now: () => number
  private readonly init: MembershipInit
  private readonly members = new Map<string, Member>()
  /** The peers each member exchanges gossip with directly, as its last heartbeat listed them. */
  private readonly links = new Map<string, Set<string>>()
  private readonly incarnation: number
  private seq = 0
  private timers: NodeJS.Timeout[] = []
  private unsubscribe?: () => void
  private readonly onConnect = (peerId: string): void => { this.onPeerConnect(peerId) }
  private readonly onDisconnect = (peerId: string): void => { void this.onPeerDisconnect(peerId) }
  private started = false
  private heartbeatPending = false
  private readonly rtt: RttProber

  constructor (components: MembershipComponents, init: MembershipInit) {
    super()
    this.mesh = components.mesh
    this.rtt = new RttProber(components.mesh)
    this.log = components.logger.child({ module: 'membership' })
    this.now = components.now ?? Date.now
    this.init = init
    this.incarnation = Date.now()
    const self: Member = {
      peerId: this.mesh.peerId,
      self: true,
      state: 'alive',
      lastHeardAt: this.now(),
      stateSince: this.now(),
      incarnation: this.incarnation,
      seq: 0,
      addrs: [],
      httpUrl: null,
      version: init.version,
      connected: true
    }
    this.members.set(self.peerId, self)
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.rtt.start()
    this.mesh.setValidator(MEMBERSHIP_TOPIC, (msg) => this.validate(msg))
    this.unsubscribe = this.mesh.subscribe(MEMBERSHIP_TOPIC, (msg) => { this.receive(msg) })
    this.mesh.on('peer:connect', this.onConnect)
    this.mesh.on('peer:disconnect', this.onDisconnect)
    const every = (ms: number, fn: () => void): void => {
      const timer = setInterval(fn, ms)
      timer.unref()
      this.timers.push(timer)
    }
    every(this.init.heartbeatIntervalMs, () => { void this.sendHeartbeat() })
    every(Math.max(50, Math.min(250, this.init.heartbeatIntervalMs / 4)), () => { this.sweep() })
    every(this.init.rttIntervalMs, () => { void this.measureRtts() })
    void this.sendHeartbeat()
  }

  /** Says goodbye (so peers mark this node `left` at once) and stops gossiping. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    this.mesh.off('peer:connect', this.onConnect)
    this.mesh.off('peer:disconnect', this.onDisconnect)
    await this.publish({ v: 1, k: 'bye', inc: this.incarnation, seq: ++this.seq }).catch(() => {})
    this.unsubscribe?.()
    this.rtt.stop()
  }

  /** Every known member, this node first, then by peer ID. */
  list (): Member[] {
    this.sweep()
    const self = this.members.get(this.mesh.peerId) as Member
    self.lastHeardAt = this.now()
    self.load = this.init.loadReport()
    self.httpUrl = this.init.httpUrl()
    self.addrs = this.mesh.multiaddrs()
    const others = [...this.members.values()].filter(m => !m.self).sort((a, b) => a.peerId.localeCompare(b.peerId))
    for (const m of others) m.connected = this.safeIsConnected(m.peerId)
    return [self, ...others].map(m => ({ ...m, addrs: [...m.addrs] }))
  }

  /**
   * Peer IDs of the members (this node included) in one of `states`. For callers on a hot path
   * (the event dispatcher asks on every turn that has work): unlike list(), it copies no member
   * and reads no load report.
   */
  peerIdsIn (states: readonly MemberState[]): string[] {
    this.sweep()
    const ids: string[] = []
    for (const member of this.members.values()) if (states.includes(member.state)) ids.push(member.peerId)
    return ids
  }

  /**
   * True when `a` and `b` each listed the other as a direct gossip peer in their last heartbeat
   * (for this node: its own gossip peers now). A dropped link is announced within ~20 ms, but
   * callers that skip work for linked pairs must tolerate one that has just gone (see
   * Mesh.setValidator).
   */
  linked (a: string, b: string): boolean {
    return this.hasLink(a, b) && this.hasLink(b, a)
  }

  private hasLink (from: string, to: string): boolean {
    if (from === this.mesh.peerId) return this.mesh.gossipPeers().includes(to)
    return this.links.get(from)?.has(to) === true
  }

  get (peerId: string): Member | undefined {
    return this.list().find(m => m.peerId === peerId)
  }

  /** Members currently alive, this node included. */
  alive (): Member[] {
    return this.list().filter(m => m.state === 'alive')
  }

  private async sendHeartbeat (): Promise<void> {
    const heartbeat: Heartbeat = {
      v: 1,
      k: 'hb',
      inc: this.incarnation,
      seq: ++this.seq,
      addrs: this.mesh.multiaddrs(),
      http: this.init.httpUrl(),
      ver: this.init.version,
      load: this.init.loadReport(),
      links: this.mesh.gossipPeers().slice(0, MAX_LINKS)
    }
    await this.publish(heartbeat).catch((err: Error) => { this.log.debug({ err: err.message }, 'heartbeat not sent') })
  }

  private async publish (message: Parameters<typeof encodeMembershipMessage>[0]): Promise<void> {
    await this.mesh.publish(MEMBERSHIP_TOPIC, encodeMembershipMessage(message))
  }

  private validate (msg: PubsubMessage): MessageVerdict {
    if (decodeMembershipMessage(msg.data) === undefined) {
      this.counters.rejectedMessages++
      this.log.warn({ from: msg.from }, 'rejected a malformed membership message')
      return 'reject'
    }
    return this.mesh.gate.isAllowed(msg.from) ? 'valid' : 'ignore'
  }

  private receive (msg: PubsubMessage): void {
    const message = decodeMembershipMessage(msg.data)
    if (message === undefined || msg.from === this.mesh.peerId) return
    if (message.k === 'hb') this.onHeartbeat(msg.from, message)
    else if (message.k === 'bye') this.onGoodbye(msg.from, message.inc, message.seq)
    else this.onDeathNotice(msg.from, message)
  }

  private onHeartbeat (peerId: string, hb: Heartbeat): void {
    this.counters.heartbeatsReceived++
    const now = this.now()
    let member = this.members.get(peerId)
    if (member === undefined) {
      member = {
        peerId,
        self: false,
        state: 'alive',
        lastHeardAt: now,
        stateSince: now,
        incarnation: hb.inc,
        seq: hb.seq,
        addrs: hb.addrs,
        httpUrl: hb.http,
        version: hb.ver,
        load: hb.load,
        connected: this.safeIsConnected(peerId)
      }
      this.members.set(peerId, member)
      this.log.info({ peer: peerId }, 'member joined')
      // A first RTT right away, so a young mesh's health is not blank for rttIntervalMs.
      void this.measureRtt(member)
      this.emit('member:state', { ...member }, undefined)
    } else {
      // Gossip may deliver an old heartbeat late: only a newer one is news.
      if (!isNewer(hb.inc, hb.seq, member.incarnation, member.seq)) return
      member.incarnation = hb.inc
      member.seq = hb.seq
      member.lastHeardAt = now
      member.addrs = hb.addrs
      member.httpUrl = hb.http
      member.version = hb.ver
      member.load = hb.load
      this.setState(member, 'alive')
    }
    // A heartbeat without links (an older version) leaves none: nothing is assumed linked.
    if (hb.links === undefined) this.links.delete(peerId)
    else this.links.set(peerId, new Set(hb.links))
    this.mesh.addKnownPeer(peerId, hb.addrs)
  }

  private onGoodbye (peerId: string, inc: number, seq: number): void {
    const member = this.members.get(peerId)
    if (member === undefined || !isNewer(inc, seq, member.incarnation, member.seq)) return
    member.incarnation = inc
    member.seq = seq
    this.setState(member, 'left', 'said goodbye')
  }

  private onDeathNotice (reporter: string, notice: DeathNotice): void {
    const member = this.members.get(notice.peer)
    if (member === undefined || member.self || member.state === 'dead' || member.state === 'left') return
    // A node still connected to the member knows better than the reporter; so does anyone who
    // heard from it after the reporter did.
    if (this.safeIsConnected(notice.peer)) return
    if (isNewer(member.incarnation, member.seq, notice.inc, notice.seq)) return
    this.counters.deathNoticesApplied++
    this.setState(member, 'dead', `reported by ${reporter}: ${notice.reason}`)
  }

  private heartbeatSoon (): void {
    if (!this.started || this.heartbeatPending) return
    this.heartbeatPending = true
    setTimeout(() => {
      this.heartbeatPending = false
      if (this.started) void this.sendHeartbeat()
    }, LINK_CHANGE_HEARTBEAT_MS).unref()
  }

  private onPeerConnect (peerId: string): void {
    // A new neighbour learns about this node now rather than at the next tick.
    if (this.members.has(peerId) || this.mesh.gate.isAllowed(peerId)) {
      setTimeout(() => { if (this.started) void this.sendHeartbeat() }, 50).unref()
    }
  }

  private async onPeerDisconnect (peerId: string): Promise<void> {
    const member = this.members.get(peerId)
    if (member === undefined || member.state === 'left' || member.state === 'dead') return
    // Members skip forwarding to peers linked to a message's author (Mesh.setValidator): tell
    // them now that this link is gone, not at the next tick (one heartbeat for a burst of drops).
    this.heartbeatSoon()
    const heardBefore = member.seq
    const result = await probeUntilSettled(member.addrs, PROBE_TIMEOUT_MS)
    if (!this.started || result !== 'refused') return
    // The state may have moved on while the probe ran: a heartbeat, a goodbye, a reconnect.
    const now = this.members.get(peerId)
    if (now !== member || member.seq !== heardBefore || isGone(member) || this.safeIsConnected(peerId)) return
    this.setState(member, 'dead', 'connection lost and refused')
    this.counters.deathNoticesSent++
    await this.publish({ v: 1, k: 'dead', peer: peerId, inc: member.incarnation, seq: member.seq, reason: 'connection lost and refused' }).catch(() => {})
  }

  private sweep (): void {
    const now = this.now()
    for (const member of this.members.values()) {
      if (member.self) continue
      const silentFor = now - member.lastHeardAt
      if (member.state === 'dead' || member.state === 'left') {
        if (now - member.stateSince > this.init.forgetAfterMs) {
          this.members.delete(member.peerId)
          this.mesh.forgetPeer(member.peerId)
          this.log.info({ peer: member.peerId }, 'member forgotten')
        }
        continue
      }
      if (silentFor >= this.init.deadAfterMs) this.setState(member, 'dead', `no heartbeat for ${silentFor} ms`)
      else if (silentFor >= this.init.suspectAfterMs) this.setState(member, 'suspect', `no heartbeat for ${silentFor} ms`)
    }
  }

  private setState (member: Member, state: MemberState, reason?: string): void {
    if (member.state === state) return
    const previous = member.state
    member.state = state
    member.stateSince = this.now()
    // What a gone member was connected to says nothing about it once it is back.
    if (state === 'dead' || state === 'left') this.links.delete(member.peerId)
    if (reason === undefined) delete member.reason
    else member.reason = reason
    const level = state === 'alive' ? 'info' : state === 'left' ? 'info' : 'warn'
    this.log[level]({ peer: member.peerId, from: previous, to: state, reason }, 'member state changed')
    this.emit('member:state', { ...member }, previous)
  }

  private async measureRtts (): Promise<void> {
    await Promise.all([...this.members.values()].map(async m => { await this.measureRtt(m) }))
  }

  private async measureRtt (member: Member): Promise<void> {
    if (member.self || !this.safeIsConnected(member.peerId)) return
    try {
      member.rttMs = Math.round(await this.rtt.measure(member.peerId) * 100) / 100
    } catch {
      delete member.rttMs
    }
  }

  private safeIsConnected (peerId: string): boolean {
    try {
      return this.mesh.isConnected(peerId)
    } catch {
      return false
    }
  }
}

function isGone (member: Member): boolean {
  return member.state === 'dead' || member.state === 'left'
}

function isNewer (inc: number, seq: number, thanInc: number, thanSeq: number): boolean {
  return inc > thanInc || (inc === thanInc && seq > thanSeq)
}

export function createMembership (components: MembershipComponents, init: MembershipInit): Membership {
  return new Membership(components, init)
}
