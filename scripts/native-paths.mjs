// Paths binding.gyp needs, computed in one place (gyp evaluates `<!(...)` at configure time).
//   node scripts/native-paths.mjs target-dir|lib|lib-dir|include|external|defines
// DISTMINER_FILCRYPTO_LIB=/path/to/libfilcrypto.a links a user's own filecoin-ffi build instead
// of our crate (DISTMINER_FILCRYPTO_INCLUDE may point at its filcrypto.h directory).
// DISTMINER_CUDA=1 builds our crate with the `cuda` feature into a separate target directory.
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cuda = process.env.DISTMINER_CUDA === '1';
const external = process.env.DISTMINER_FILCRYPTO_LIB;

export function targetDir() {
  const base = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'distminer', 'cargo-target');
  // A CUDA build must never overwrite the CPU build: it will not even load without the driver.
  return cuda ? `${base}-cuda` : base;
}

const invokedDirectly = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
const what = invokedDirectly ? process.argv[2] : null;
const out = {
  'target-dir': () => targetDir(),
  lib: () => external || join(targetDir(), 'release', 'libdistminer_proofs.a'),
  'lib-dir': () => dirname(external || join(targetDir(), 'release', 'libdistminer_proofs.a')),
  include: () => process.env.DISTMINER_FILCRYPTO_INCLUDE || join(root, 'native', 'include'),
  external: () => (external ? '1' : '0'),
  defines: () => [external ? 'DISTMINER_EXTERNAL_FILCRYPTO' : '', cuda ? 'DISTMINER_CUDA' : ''].filter(Boolean).join(' ') || 'DISTMINER_NATIVE',
}[what ?? ''];
if (invokedDirectly) {
  if (!out) {
    process.stderr.write(`unknown path "${what}"\n`);
    process.exit(2);
  }
  process.stdout.write(out());
}
