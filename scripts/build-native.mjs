// `npm run build:native`: cargo (via binding.gyp's action) + node-gyp, offline.
// node-gyp is pointed at the running Node's own headers (--nodedir) so it never tries to
// download them; then the native helper binary is copied next to the addon.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { targetDir } from './native-paths.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nodedir = process.env.npm_config_nodedir || resolve(dirname(process.execPath), '..');
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
  process.stderr.write(`native: Node headers not found under ${nodedir}/include/node; set npm_config_nodedir\n`);
  process.exit(1);
}
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(process.execPath, [join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'rebuild', `--nodedir=${nodedir}`, '--jobs=2']);
if (!process.env.DISTMINER_FILCRYPTO_LIB) {
  mkdirSync(join(root, 'build', 'Release'), { recursive: true });
  copyFileSync(join(targetDir(), 'release', 'distminer-native'), join(root, 'build', 'Release', 'distminer-native'));
}
process.stderr.write('native: build/Release/distminer_proofs.node ready\n');
