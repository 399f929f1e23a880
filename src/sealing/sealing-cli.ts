// `distminer sealing …` (see cli.ts)
export { sealing as main } from './cli.js';
