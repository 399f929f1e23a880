// Builds the Rust crate (release, --locked) unless a user's own libfilcrypto is linked.
// Called by binding.gyp's cargo action and by scripts/build-native.mjs.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { targetDir } from './native-paths.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
if (process.env.DISTMINER_FILCRYPTO_LIB) {
  process.stderr.write(`native: linking the external filcrypto ${process.env.DISTMINER_FILCRYPTO_LIB}; skipping cargo\n`);
  process.exit(0);
}
const args = ['build', '--release', '--locked', '--manifest-path', join(root, 'native', 'Cargo.toml')];
if (process.env.DISTMINER_CUDA === '1') args.push('--features', 'cuda');
const r = spawnSync('cargo', args, { stdio: 'inherit', env: { ...process.env, CARGO_TARGET_DIR: targetDir() } });
if (r.error) {
  process.stderr.write(`native: cannot run cargo (${r.error.message}); install Rust (rustup) first\n`);
  process.exit(1);
}
process.exit(r.status ?? 1);
