// `distminer post window|winning|all`: the PoSt loops on their own (split hosts, debugging).
export { postMain as main } from './cli.js';
