import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { preSharedKey } from '@libp2p/pnet'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { gossipsub, type GossipSub, type GossipsubOpts, type Message, TopicValidatorResult } from '@libp2p/gossipsub'
import { kadDHT, passthroughMapper, type KadDHT, type SingleKadDHT, type Selectors, type Validators } from '@libp2p/kad-dht'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId, PrivateKey, Connection, StreamHandler } from '@libp2p/interface'
import type { Logger } from '../logger.ts'
import { IdlemeshError } from '../errors.ts'
import { createPeerGate, type PeerGate } from './gater.ts'
import { backoffDelay } from './backoff.ts'
import { applyPnetSodiumCipher } from './pnet-cipher.ts'
import { sodiumNoiseCrypto } from './noise-crypto.ts'

// A type alias, not an interface: libp2p's ServiceMap needs an index-signature-compatible type.
export type MeshServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht: KadDHT
}

export interface MeshInit {
  privateKey: PrivateKey
  /** The mesh's pnet swarm key (see identity/swarmKey). */
  swarmKey: Uint8Array
  listen: readonly string[]
  announce?: readonly string[]
  bootstrap?: readonly string[]
  allowlist?: readonly string[]
  reconnect: { initialDelayMs: number, maxDelayMs: number, dialTimeoutMs: number }
  /** Extra kad-dht record validators/selectors, keyed by record namespace. */
  dhtValidators?: Validators
  dhtSelectors?: Selectors
  /** Gossipsub overrides (peer scoring per topic). */
  gossipsub?: Partial<GossipsubOpts>
}

export interface MeshComponents {
  logger: Logger
}

export interface ConnectionInfo {
  peerId: string
  remoteAddr: string
  direction: 'inbound' | 'outbound'
  openedAt: number
}

export interface ValidatorOptions {
  /**
   * Forward a valid message only when a topic peer may lack it: one not linked to the message's
   * author, i.e. not exchanging gossip with it directly (see setLinkView). For topics whose validator does the work and that have
   * anti-entropy to cover a link that broke a moment ago.
   */
  forwardOnlyWhereNeeded?: boolean
  /**
   * Keep the topic's messages in gossipsub's message cache (mcacheLength heartbeats, 5 s), from
   * which it answers peers that ask for a message they heard of by gossip (IWANT). False for
   * bulk topics with anti-entropy of their own: see skipMessageCache. @default true
   */
  keepInMessageCache?: boolean
}

/** Gossipsub's class has this; the interface it is typed by does not. */
interface MeshPeers {
  getMeshPeers: (topic: string) => string[]
}

/** Gossipsub's message cache, as gossipsub's class holds it (not on the interface either). */
interface MessageCacheHolder {
  mcache?: { put: (id: unknown, message: { topic: string }, validated?: boolean) => boolean }
}

export interface PubsubMessage {
  /** Authenticated author (gossipsub StrictSign): the node that signed the message. */
  from: string
  /** The neighbour that delivered it (the author, or a peer forwarding it). */
  receivedFrom: string
  topic: string
  data: Uint8Array
}

/** 'valid' delivers and forwards; 'ignore' drops quietly; 'reject' drops and penalises the sender. */
export type MessageVerdict = 'valid' | 'ignore' | 'reject'

export interface MeshEvents {
  'peer:connect': [peerId: string]
  'peer:disconnect': [peerId: string]
  /** A peer subscribed to a topic (it now receives what is published there). */
  'peer:subscribed': [peerId: string, topic: string]
}

/** Dial target the reconnect loop keeps trying: a known peer, or a bootstrap address. */
interface DialTarget {
  peerId?: string
  addrs: Multiaddr[]
  attempts: number
  nextAt: number
  dialing: boolean
}

export const DHT_PROTOCOL = '/idlemesh/kad/1.0.0'
const YAMUX_WINDOW_BYTES = 2 * 1024 * 1024
const RECONNECT_TICK_MS = 100
/** Gossipsub 1.2 announces IDONTWANT for messages at least this large (its default, pinned). */
const IDONTWANT_MIN_BYTES = 512
/** How long a valid message that carries an IDONTWANT waits before it is forwarded. */
const FORWARD_DELAY_MS = 5

/**
 * The node's libp2p network: a private (pnet), authenticated (noise) mesh of tcp connections
 * with gossipsub and kad-dht. It also keeps every known peer connected: lost connections are
 * redialled with capped exponential backoff for as long as the node runs, so a partition heals
 * by itself.
 */
export class Mesh extends EventEmitter<MeshEvents> {
  readonly peerId: string
  readonly gate: PeerGate
  private readonly init: MeshInit
  private readonly log: Logger
  private node?: Libp2p<MeshServices>
  private readonly targets = new Map<string, DialTarget>()
  private readonly handlers = new Map<string, Set<(msg: PubsubMessage) => void>>()
  private readonly validators = new Map<string, (msg: PubsubMessage) => MessageVerdict | Promise<MessageVerdict>>()
  private linked?: (a: string, b: string) => boolean
  /** Topics whose messages stay out of gossipsub's message cache (keepInMessageCache false). */
  private readonly uncachedTopics = new Set<string>()
  private reconnectTimer?: NodeJS.Timeout
  private stopping?: Promise<void>

  constructor (components: MeshComponents, init: MeshInit, peerId: string) {
    super()
    this.init = init
    this.peerId = peerId
    this.log = components.logger.child({ module: 'mesh' })
    this.gate = createPeerGate(peerId, init.allowlist ?? [])
  }

  get libp2p (): Libp2p<MeshServices> {
    if (this.node === undefined) throw new IdlemeshError('MESH_NOT_STARTED', 'the mesh is not started', { status: 503 })
    return this.node
  }

  async start (): Promise<void> {
    if (this.node !== undefined) return
    applyPnetSodiumCipher()
    const init = this.init
    this.node = await createLibp2p<MeshServices>({
      privateKey: init.privateKey,
      addresses: { listen: [...init.listen], announce: [...(init.announce ?? [])] },
      transports: [tcp()],
      connectionEncrypters: [noise({ crypto: sodiumNoiseCrypto })],
      // The window bounds what a peer may send on one stream before this node reads it, so what
      // a paused or slow stream holds in memory: 2 MiB rather than yamux's 16.
      streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: YAMUX_WINDOW_BYTES } })],
      connectionProtector: preSharedKey({ psk: init.swarmKey }),
      connectionGater: this.gate.gater,
      connectionManager: {
        // Every member of a test mesh, and many of a real one behind NAT, shares one IP: the
        // default of 5 inbound connections per second per IP made mesh formation fail.
        inboundConnectionThreshold: 1000,
        maxIncomingPendingConnections: 100,
        dialTimeout: init.reconnect.dialTimeoutMs,
        // Our own reconnect loop owns redialling (it also covers peers never connected yet).
        reconnectRetries: 0
      },
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictSign',
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          // Without it gossipsub checks the signature of every copy of a message before it
          // notices a duplicate: in a mesh where every node forwards to every other, that is each
          // signature about N-1 times. Author and sequence number are what the default message id
          // is made of; a fast id enters the cache only once a signature has passed.
          fastMsgIdFn: fastMessageId,
          idontwantMinDataSize: IDONTWANT_MIN_BYTES,
          ...init.gossipsub
        }),
        dht: kadDHT({
          protocol: DHT_PROTOCOL,
          clientMode: false,
          peerInfoMapper: passthroughMapper,
          validators: init.dhtValidators ?? {},
          selectors: init.dhtSelectors ?? {}
        })
      },
      start: false
    })

    const node = this.node
    this.skipMessageCache(node.services.pubsub)
    node.addEventListener('peer:connect', (evt) => { this.onConnect(evt.detail) })
    node.addEventListener('peer:disconnect', (evt) => { this.emit('peer:disconnect', evt.detail.toString()) })
    node.services.pubsub.addEventListener('message', (evt) => { this.deliver(evt.detail) })
    node.services.pubsub.addEventListener('subscription-change', (evt) => {
      for (const sub of evt.detail.subscriptions) if (sub.subscribe) this.emit('peer:subscribed', evt.detail.peerId.toString(), sub.topic)
    })

    await node.start()
    // The DHT switches to server mode by itself only with a public address; a private mesh's
    // addresses are all private, and every member must serve records.
    await node.services.dht.setMode('server')

    for (const addr of init.bootstrap ?? []) this.addBootstrap(addr)
    this.reconnectTimer = setInterval(() => { this.reconnectTick() }, RECONNECT_TICK_MS)
    this.reconnectTimer.unref()
    this.reconnectTick()
    this.log.info({ peerId: this.peerId, addrs: this.multiaddrs() }, 'mesh listening')
  }

  async stop (): Promise<void> {
    if (this.stopping !== undefined) return await this.stopping
    this.stopping = (async () => {
      clearInterval(this.reconnectTimer)
      await this.node?.stop()
    })()
    await this.stopping
  }

  multiaddrs (): string[] {
    return this.node?.getMultiaddrs().map(ma => ma.toString()) ?? []
  }

  connections (): ConnectionInfo[] {
    return this.libp2p.getConnections().filter(c => c.status === 'open').map(c => ({
      peerId: c.remotePeer.toString(),
      remoteAddr: c.remoteAddr.toString(),
      direction: c.direction,
      openedAt: c.timeline.open
    }))
  }

  isConnected (peerId: string): boolean {
    return this.libp2p.getConnections(peerIdFromString(peerId)).some(c => c.status === 'open')
  }

  connectedPeers (): string[] {
    return [...new Set(this.libp2p.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString()))]
  }

  /**
   * Connected peers that gossipsub exchanges messages with (it has streams open with them): what
   * a message this node publishes reaches directly. A connection whose gossipsub streams were
   * reset is connected but not here.
   */
  gossipPeers (): string[] {
    const connected = new Set(this.connectedPeers())
    return this.libp2p.services.pubsub.getPeers().map(String).filter(p => connected.has(p))
  }

  dhtRoutingTableSize (): number {
    return (this.libp2p.services.dht as SingleKadDHT).routingTable?.size ?? 0
  }

  /**
   * Remember a peer and where it listens; the reconnect loop keeps it connected from now on.
   * Called with the addresses members announce in their heartbeats.
   */
  addKnownPeer (peerId: string, addrs: readonly string[]): void {
    if (peerId === this.peerId || !this.gate.isAllowed(peerId)) return
    const parsed = parseAddrs(addrs, this.log)
    const target = this.targets.get(peerId)
    if (target === undefined) {
      this.targets.set(peerId, { peerId, addrs: parsed, attempts: 0, nextAt: 0, dialing: false })
    } else if (parsed.length > 0) {
      target.addrs = parsed
    }
  }

  /** Forget a peer: it is no longer redialled (a member that left for good). */
  forgetPeer (peerId: string): void {
    this.targets.delete(peerId)
  }

  /** Refuse a peer from now on and drop its connections (revocation; partition tests). */
  async denyPeer (peerId: string): Promise<void> {
    this.gate.deny(peerId)
    await this.libp2p.hangUp(peerIdFromString(peerId)).catch(() => {})
  }

  /** Accept a peer again; the reconnect loop redials it on its own schedule. */
  undenyPeer (peerId: string): void {
    this.gate.undeny(peerId)
  }

  /**
   * Refuse connections to and from a peer and drop those open, without denying it: it stays a
   * member whose messages, relayed by others, are accepted. What a firewall or NAT between two
   * members does, for tests of a mesh that is not fully connected (a line A – B – C), which
   * denyPeer cannot model: validators ignore whatever a denied peer authored.
   */
  async blockPeer (peerId: string): Promise<void> {
    this.gate.block(peerId)
    await this.libp2p.hangUp(peerIdFromString(peerId)).catch(() => {})
  }

  /** Connect to a blocked peer again; the reconnect loop redials it on its own schedule. */
  unblockPeer (peerId: string): void {
    this.gate.unblock(peerId)
  }

  subscribe (topic: string, handler: (msg: PubsubMessage) => void): () => void {
    let set = this.handlers.get(topic)
    if (set === undefined) {
      set = new Set()
      this.handlers.set(topic, set)
      this.libp2p.services.pubsub.subscribe(topic)
    }
    set.add(handler)
    return () => { set.delete(handler) }
  }

  /**
   * A check run on every message of `topic` before it is delivered or forwarded. 'reject'
   * counts against the sender in gossipsub's peer score.
   */
  setValidator (topic: string, validate: (msg: PubsubMessage) => MessageVerdict | Promise<MessageVerdict>, options: ValidatorOptions = {}): void {
    this.validators.set(topic, validate)
    if (options.keepInMessageCache === false) this.uncachedTopics.add(topic)
    const pubsub = this.libp2p.services.pubsub
    pubsub.topicValidators.set(topic, async (peer: PeerId, message: Message) => {
      const pubsubMessage = toPubsubMessage(message, peer.toString())
      const verdict = await validate(pubsubMessage)
      // A message is sent straight from its author to every peer the author is connected to
      // (flood publish). Forwarding it on is only of use to topic peers that are not: where all
      // are, as in a mesh whose members all connect to each other, every forwarded copy is one
      // its receiver already has, and costs both sides a message's worth of encryption. Ignore
      // (no penalty) keeps gossipsub from forwarding. Links are known from heartbeats, so one
      // that has just broken can cost a peer this message until anti-entropy brings it: only
      // topics whose validator did the work and that have anti-entropy opt in.
      if (verdict === 'valid' && options.forwardOnlyWhereNeeded === true && this.linked !== undefined) {
        const { from, receivedFrom } = pubsubMessage
        const linked = this.linked
        const needed = (pubsub as unknown as MeshPeers).getMeshPeers(topic).some(p => p !== receivedFrom && p !== from && !linked(p, from))
        if (!needed) return TopicValidatorResult.Ignore
      }
      // Gossipsub forwards a message as soon as it is valid. Where most members heard it straight
      // from its publisher, as in a mesh whose members all connect to each other, each one would
      // then send every other a copy it already has: for event batches that doubled the bytes
      // each node encrypts and decrypts. Waiting a moment lets the IDONTWANTs those members sent
      // on receipt arrive first, and gossipsub skips the peers that sent one. Delivery to this
      // node is not delayed: the validator did that work already.
      if (verdict === 'valid' && message.data.length >= IDONTWANT_MIN_BYTES) await sleep(FORWARD_DELAY_MS)
      return verdict === 'valid' ? TopicValidatorResult.Accept : verdict === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    })
  }

  /**
   * Gossipsub keeps every message it publishes or forwards for 5 s, to answer IWANTs. A batch of
   * webhook events thus outlived two young-generation collections, was promoted, and became
   * garbage in the old generation: on a node taking ~9,500 webhooks/s that was ~37 MB/s of
   * ArrayBuffers that only a full collection frees, and V8 started one on external memory
   * pressure every ~1.7 s (each ~25 ms of main-thread work). Without the batches in the cache, a
   * lone node under closed-loop load (alternating runs of 6 s): no full collection instead of 4,
   * 10,400–11,000 webhooks/s instead of 9,000–9,700, p99 12–14 ms instead of 17–19. Topics that
   * opt out lose only IWANT answers, which their own anti-entropy makes up for; a publisher still
   * sends each message to every topic peer it is connected to (flood publish) and forwarding
   * does not read the cache. If a gossipsub upgrade moves the cache, every topic stays cached.
   */
  private skipMessageCache (pubsub: unknown): void {
    const cache = (pubsub as MessageCacheHolder).mcache
    if (typeof cache?.put !== 'function') {
      this.log.warn('gossipsub has no message cache where expected: every topic stays cached')
      return
    }
    const put = cache.put.bind(cache)
    cache.put = (id, message, validated) => this.uncachedTopics.has(message.topic) ? false : put(id, message, validated)
  }

  /**
   * Tells the mesh which pairs of members hold a direct connection to each other (membership
   * learns it from heartbeats), for validators set with `forwardOnlyWhereNeeded`.
   */
  setLinkView (linked: (a: string, b: string) => boolean): void {
    this.linked = linked
  }

  async publish (topic: string, data: Uint8Array): Promise<number> {
    const result = await this.libp2p.services.pubsub.publish(topic, data)
    return result.recipients.length
  }

  handle (protocol: string, handler: StreamHandler, options: { maxInboundStreams?: number, maxOutboundStreams?: number } = {}): void {
    void this.libp2p.handle(protocol, handler, { runOnLimitedConnection: false, ...options })
  }

  async dialProtocol (peerId: string, protocol: string, signal?: AbortSignal): ReturnType<Libp2p['dialProtocol']> {
    return await this.libp2p.dialProtocol(peerIdFromString(peerId), protocol, { signal: signal ?? AbortSignal.timeout(this.init.reconnect.dialTimeoutMs) })
  }

  private addBootstrap (addr: string): void {
    const [ma] = parseAddrs([addr], this.log)
    if (ma === undefined) return
    const peerId = ma.getComponents().find(c => c.name === 'p2p')?.value
    if (peerId !== undefined) {
      this.addKnownPeer(peerId, [addr])
    } else {
      this.targets.set(`addr:${addr}`, { addrs: [ma], attempts: 0, nextAt: 0, dialing: false })
    }
  }

  private onConnect (peer: PeerId): void {
    const peerId = peer.toString()
    const target = this.targets.get(peerId)
    if (target !== undefined) { target.attempts = 0; target.nextAt = 0 }
    this.emit('peer:connect', peerId)
  }

  private reconnectTick (): void {
    const node = this.node
    if (node === undefined || this.stopping !== undefined) return
    const now = Date.now()
    for (const [key, target] of this.targets) {
      if (target.dialing || now < target.nextAt) continue
      if (target.peerId !== undefined && (!this.gate.mayConnect(target.peerId) || node.getConnections(peerIdFromString(target.peerId)).length > 0)) continue
      if (target.addrs.length === 0) continue
      target.dialing = true
      void this.dialTarget(key, target)
    }
  }

  private async dialTarget (key: string, target: DialTarget): Promise<void> {
    const node = this.libp2p
    const { initialDelayMs, maxDelayMs, dialTimeoutMs } = this.init.reconnect
    try {
      const what = target.peerId !== undefined ? peerIdFromString(target.peerId) : target.addrs
      if (target.peerId !== undefined) await node.peerStore.merge(peerIdFromString(target.peerId), { multiaddrs: target.addrs })
      const connection: Connection = await node.dial(what, { signal: AbortSignal.timeout(dialTimeoutMs) })
      target.attempts = 0
      if (target.peerId === undefined) {
        // A bare bootstrap address answered: from now on it is that peer, kept like any other.
        this.targets.delete(key)
        this.addKnownPeer(connection.remotePeer.toString(), target.addrs.map(a => a.toString()))
      }
    } catch (err) {
      const delay = backoffDelay(target.attempts, initialDelayMs, maxDelayMs)
      target.attempts++
      target.nextAt = Date.now() + delay
      this.log.debug({ target: key, attempt: target.attempts, retryInMs: delay, err: (err as Error).message }, 'dial failed')
    } finally {
      target.dialing = false
    }
  }

  private deliver (message: Message): void {
    const handlers = this.handlers.get(message.topic)
    if (handlers === undefined || message.type !== 'signed') return
    const msg = toPubsubMessage(message)
    for (const handler of handlers) {
      try {
        handler(msg)
      } catch (err) {
        this.log.error({ err, topic: message.topic, from: msg.from }, 'pubsub handler failed')
      }
    }
  }
}

function fastMessageId (message: { from?: Uint8Array, seqno?: Uint8Array }): string {
  return `${Buffer.from(message.from ?? []).toString('base64')}:${Buffer.from(message.seqno ?? []).toString('base64')}`
}

function toPubsubMessage (message: Message, receivedFrom?: string): PubsubMessage {
  // StrictSign is the global policy: gossipsub drops unsigned messages before they reach us.
  const from = message.type === 'signed' ? message.from.toString() : ''
  return { from, receivedFrom: receivedFrom ?? from, topic: message.topic, data: message.data }
}

function parseAddrs (addrs: readonly string[], log: Logger): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const addr of addrs) {
    try {
      out.push(multiaddr(addr))
    } catch (err) {
      log.warn({ addr, err: (err as Error).message }, 'ignoring an invalid multiaddr')
    }
  }
  return out
}

export function createMesh (components: MeshComponents, init: MeshInit, peerId: string): Mesh {
  return new Mesh(components, init, peerId)
}
