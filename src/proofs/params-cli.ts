// `distminer params [--verify] [--circuit porep|winning-post|window-post]`
import { CIRCUITS, type Circuit, EXPECTED_SECONDS, circuitPresent, generateParams, parameterCacheDir, verifyParams } from './params.js';

function fmt(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export async function main(o: { verify?: boolean; circuit?: string }): Promise<number> {
  const verify = o.verify === true;
  const circuits: Circuit[] = o.circuit !== undefined ? [o.circuit as Circuit] : CIRCUITS;
  for (const c of circuits) {
    if (!CIRCUITS.includes(c)) {
      process.stderr.write(`unknown circuit "${c}" (one of ${CIRCUITS.join(', ')})\n`);
      return 2;
    }
  }
  const dir = parameterCacheDir();
  const tty = process.stderr.isTTY;
  const missing = circuits.filter((c) => !circuitPresent(c, dir));
  if (missing.length === 0) {
    process.stderr.write(`params: 2KiB parameters present in ${dir}\n`);
  } else {
    process.stderr.write(`params: generating 2KiB parameters for ${missing.join(', ')} into ${dir} (deterministic; about 11 minutes and 5 GiB for all three on 2 cores)\n`);
    let lastLine = 0;
    await generateParams({
      circuits: missing,
      onProgress: (c, ms) => {
        const line = `params: ${c} ${fmt(ms)} elapsed (typically ${fmt(EXPECTED_SECONDS[c] * 1000)} on 2 cores)`;
        if (tty) process.stderr.write(`\r${line}   `);
        else if (ms - lastLine >= 30_000) {
          lastLine = ms;
          process.stderr.write(`${line}\n`);
        }
      },
      onDone: (c, ms) => {
        lastLine = 0;
        process.stderr.write(`${tty ? '\r' : ''}params: ${c} done in ${fmt(ms)}, digests match the manifest\n`);
      },
    });
  }
  if (verify) {
    const r = await verifyParams(dir);
    if (!r.ok) {
      process.stderr.write(`params: verification failed:\n  ${r.problems.join('\n  ')}\n`);
      return 1;
    }
    process.stderr.write('params: every file matches native/params-2k.json\n');
  }
  return 0;
}
