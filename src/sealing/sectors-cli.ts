// `distminer sectors …` (see cli.ts)
export { sectors as main } from './cli.js';
