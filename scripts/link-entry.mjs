// tsc mirrors the source tree under dist/ (dist/src/main.js); the documented entry point
// is `node dist/main.js`, so write that one-line module after each TypeScript build.
import { writeFileSync } from 'node:fs';
writeFileSync(new URL('../dist/main.js', import.meta.url), "import './src/main.js';\n");
