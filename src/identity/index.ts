export { DATA_FILES, addCheckpointKey, defaultDataDir, initDataDir, isInitialised, loadIdentity, loadMeshSecret, keyFileTooOpen, type Identity, type InitDataDirOptions, type InitResult } from './data-dir.ts'
export { generateMeshSecret, encodeMeshSecret, decodeMeshSecret, newCheckpointKey, swarmKey, type MeshSecret } from './mesh-secret.ts'
