// The sector-number service: public API for the sector-id role (actors/) and other callers.
export { startSectorIdServer, type SectorIdServerOptions, type SectorIdServerHandle } from './server.js';
export { SectorIdClient, type SectorIdClientOptions } from './client.js';
export { type ChainFloorSource, StaticChainFloor, FileChainFloor, LotusChainFloor } from './chain-floor.js';
export { FileStore } from './file-store.js';
export { PostgresStore } from './pg-store.js';
export type { SectorIdStore } from './store.js';
export { ErrorCode, SectorIdError, PROTOCOL_VERSION, type InfoReply } from './protocol.js';
export { type Ranges, parseRanges, formatRanges, fromRleRuns } from './ranges.js';
