// Crash-safe file writes live in src/util/durable.ts (one implementation for every store);
// this path is kept for its many importers.
export { fsyncDir, writeFileAtomic, writeFileAtomicAsync } from '../util/durable.js';
