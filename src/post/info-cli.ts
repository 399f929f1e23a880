// `distminer info`: miner id, power, sectors by state, deadlines (from the chain).
export { infoMain as main } from './cli.js';
