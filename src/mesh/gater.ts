import type { ConnectionGater, PeerId } from '@libp2p/interface'

/**
 * Who may connect: with an allowlist, only listed peers (per-node revocation even for holders of
 * the mesh secret); at all times, never a peer on the deny set (an operator's live revocation,
 * and how tests cut a mesh in two), nor a blocked one (a cut link between two members). Checked
 * after Noise has authenticated the remote peer ID and again before every dial.
 */
export interface PeerGate {
  readonly gater: ConnectionGater
  isAllowed: (peerId: string) => boolean
  deny: (peerId: string) => void
  undeny: (peerId: string) => void
  denied: () => string[]
  /**
   * Whether a connection to or from the peer may exist: allowed and not blocked. Blocking only
   * cuts the link (see Mesh.blockPeer); unlike denial, the peer stays allowed, so its messages
   * relayed by others are still accepted.
   */
  mayConnect: (peerId: string) => boolean
  block: (peerId: string) => void
  unblock: (peerId: string) => void
}

export function createPeerGate (selfPeerId: string, allowlist: readonly string[]): PeerGate {
  const allowed = new Set(allowlist)
  const deniedPeers = new Set<string>()
  const blockedPeers = new Set<string>()
  const isAllowed = (peerId: string): boolean =>
    peerId === selfPeerId || (!deniedPeers.has(peerId) && (allowed.size === 0 || allowed.has(peerId)))
  const mayConnect = (peerId: string): boolean => isAllowed(peerId) && !blockedPeers.has(peerId)
  const refuse = (peerId: PeerId): boolean => !mayConnect(peerId.toString())

  return {
    gater: {
      denyDialPeer: refuse,
      denyInboundEncryptedConnection: refuse,
      denyOutboundEncryptedConnection: refuse,
      // Private meshes live on LANs and loopback: every address a member announces is dialable.
      denyDialMultiaddr: () => false
    },
    isAllowed,
    deny: (peerId) => { deniedPeers.add(peerId) },
    undeny: (peerId) => { deniedPeers.delete(peerId) },
    denied: () => [...deniedPeers],
    mayConnect,
    block: (peerId) => { blockedPeers.add(peerId) },
    unblock: (peerId) => { blockedPeers.delete(peerId) }
  }
}
