// Shared by the web page's browser tests: Debian's chromium (scripts/chromium.sh installs it
// when missing; a test fails, never skips, when it cannot be had), driven with puppeteer-core.
// Page-side code is passed as strings: this project compiles without the DOM library.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let chromium: string | undefined;

/** The chromium binary, installed first when missing (throws with the script's reason). */
export function chromiumPath(): string {
  if (chromium) return chromium;
  const r = spawnSync(join(ROOT, 'scripts/chromium.sh'), [], { encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) throw new Error(`chromium is not available and could not be installed (scripts/chromium.sh exited ${r.status}):\n${r.stdout}${r.stderr}${r.error ?? ''}`);
  chromium = r.stdout.trim().split('\n').pop()!;
  return chromium;
}

export async function browser(t: { teardown(f: () => Promise<void> | void): void }): Promise<Browser> {
  // --no-sandbox: the suite runs as root in a container, where chromium's sandbox cannot start.
  const b = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  t.teardown(() => b.close());
  return b;
}

export const visible = (page: Page, sel: string) => page.evaluate(`!document.querySelector(${JSON.stringify(sel)}).hidden`) as Promise<boolean>;
export const text = (page: Page, sel: string) => page.evaluate(`document.querySelector(${JSON.stringify(sel)}).textContent`) as Promise<string>;

export async function logIn(page: Page, token: string): Promise<void> {
  await page.evaluate(`document.getElementById('token').value = ''`);
  await page.type('#token', token);
  await page.click('#login-button');
}

