export { Mesh, createMesh, DHT_PROTOCOL, type MeshInit, type MeshComponents, type MeshServices, type ConnectionInfo, type PubsubMessage, type MessageVerdict, type ValidatorOptions } from './mesh.ts'
export { createPeerGate, type PeerGate } from './gater.ts'
export { backoffDelay } from './backoff.ts'
export { penaliseInvalidMessages } from './scoring.ts'
