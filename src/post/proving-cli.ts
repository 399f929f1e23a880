// `distminer proving ...`: Window PoSt state from the chain, readability of a deadline's files.
export { provingMain as main } from './cli.js';
