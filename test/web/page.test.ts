// The web status page end to end, in a real headless browser (Debian's chromium, installed by
// scripts/chromium.sh when missing — never skipped — and driven with puppeteer-core) against
// a real `distminer run`: the page loads, a wrong token is refused with a clear error and no
// cookie, a read token logs in (HttpOnly, SameSite=Strict cookie), the roles are listed and
// refresh live, a cookie-less JSON request gets 401, and an alert appears within 30 s when a
// role gets stuck (the crash drill).
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { browser, chromiumPath, logIn, text, visible } from './_browser.js';
import { callApi } from '../../src/api/client.js';
import { Auth } from '../../src/auth/index.js';
import { startApiServer } from '../../src/api/server.js';
import { initRepo, openRepo } from '../../src/config/repo.js';
import { startDrillMiner } from '../helpers/drill-miner.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Installs chromium first when missing (minutes), outside any test's timeout.
test.before(() => void chromiumPath());

async function startMiner(t: { teardown(f: () => void): void }, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'distminer-web-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const repo = join(dir, 'repo');
  initRepo(repo, 'f01000', '/ip4/127.0.0.1/tcp/0/http');
  const { child, addr, admin } = await startDrillMiner(t, repo, env);
  for (let i = 0; i < 200; i++) {
    const st = await callApi<{ actors: Array<{ status: string }> }>(addr, admin, 'Distminer.Status');
    if (st.actors.length > 0 && st.actors.every((a) => a.status === 'running')) break;
    await sleep(100);
  }
  return { child, addr, admin, url: `http://${addr.host}:${addr.port}`, read: openRepo(repo).auth.issue('read'), foreign: Auth.random().issue('read') };
}

test('log in with a read token in chromium: roles listed live; wrong token refused without a cookie; cookie-less JSON 401; a stuck role raises an alert within 30 s', async (t) => {
  const m = await startMiner(t);
  const b = await browser(t);
  const page = await b.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (c) => {
    // The page's first poll without a cookie is answered 401 by design (the browser logs it).
    if (c.type() === 'error' && !/401/.test(c.text())) errors.push(c.text());
  });

  const res = await page.goto(`${m.url}/`, { waitUntil: 'load' });
  t.is(res?.status(), 200);
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  t.false(await visible(page, '#app'));

  // A wrong token (not one of this miner's) and garbage: a clear error, no cookie, no page.
  for (const bad of [m.foreign, 'not-a-token']) {
    await logIn(page, bad);
    await page.waitForFunction(`document.getElementById('login-error').textContent !== ''`, { timeout: 10_000 });
    t.regex(await text(page, '#login-error'), /wrong token/);
    t.deepEqual(await b.cookies(), [], 'no cookie for a wrong token');
    t.false(await visible(page, '#app'));
    await page.evaluate(`document.getElementById('login-error').textContent = ''`);
  }

  // A read token: the cookie is HttpOnly and SameSite=Strict; the page shows the roles.
  await logIn(page, m.read);
  await page.waitForSelector('#app:not([hidden])', { timeout: 10_000 });
  await page.waitForSelector('tr[data-role="sector-id"]', { timeout: 10_000 });
  t.truthy(await page.$('tr[data-role="winning-post"]'));
  t.regex(await text(page, 'tr[data-role="sector-id"]'), /running/);
  const cookies = await b.cookies();
  t.is(cookies.length, 1);
  t.true(cookies[0].httpOnly);
  t.is(cookies[0].sameSite, 'Strict');
  t.is(cookies[0].value, m.read);
  t.is(await page.evaluate('document.cookie'), '', 'the page script cannot read the cookie');
  // The host may have alerts of its own (a CI machine where the PoSt priority cannot be raised
  // raises DistminerPoStPriorityNotRaised, truthfully); none is about the roles yet.
  t.notRegex(await text(page, '#alerts'), /DistminerRoleUnresponsive/);
  t.is(await text(page, '#title'), `distminer f01000 on ${hostname()}`);

  // Live: the "updated" time moves without a reload.
  const before = await text(page, '#updated');
  await page.waitForFunction(`document.getElementById('updated').textContent !== ${JSON.stringify(before)}`, { timeout: 10_000 });

  // Cookie-less JSON: 401, whatever the page has.
  const bare = await fetch(`${m.url}/ui/status.json`);
  t.is(bare.status, 401);
  t.regex(((await bare.json()) as { error: string }).error, /log in/);
  t.is((await fetch(`${m.url}/ui/status.json`, { headers: { cookie: 'distminer_ui=forged.token.value' } })).status, 401);
  const ok = await fetch(`${m.url}/ui/status.json`, { headers: { cookie: `distminer_ui=${m.read}` } });
  t.is(ok.status, 200);
  t.true(Array.isArray(((await ok.json()) as { actors: unknown[] }).actors));

  // Something goes wrong: the sector-id role's thread gets stuck in a loop (crash drill). The
  // alert must show on the page within 30 s.
  await callApi(m.addr, m.admin, 'Distminer.ActorCrashDrill', ['sector-id', 'hang']);
  const t0 = Date.now();
  await page.waitForSelector('#alerts li[data-alert="DistminerRoleUnresponsive"]', { timeout: 30_000 });
  const ms = Date.now() - t0;
  const alert = await text(page, '#alerts');
  m.child.kill('SIGKILL'); // the hung thread burns a core until the supervisor's heartbeat ends it
  t.regex(alert, /DistminerRoleUnresponsive: role sector-id (has not answered the supervisor|did not answer)/);
  t.true(ms < 30_000);
  t.log(`alert shown ${ms} ms after the role got stuck`);
  t.deepEqual(errors, [], 'no script errors on the page');
});

test('log out clears the cookie and shows the login form again', async (t) => {
  const m = await startMiner(t);
  const b = await browser(t);
  const page = await b.newPage();
  await page.goto(`${m.url}/ui`, { waitUntil: 'load' });
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  await logIn(page, m.read);
  await page.waitForSelector('tr[data-role="winning-post"]', { timeout: 10_000 });
  t.is((await b.cookies()).length, 1);
  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  t.deepEqual(await b.cookies(), []);
  // A reload stays logged out.
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  t.false(await visible(page, '#app'));
});

test('whatever the miner reports is shown as text: markup in a role\'s detail, id or alert creates no element', async (t) => {
  // An in-process API server whose status carries markup where the miner puts free text.
  const auth = Auth.random();
  const api = await startApiServer({ host: '127.0.0.1', port: 0 }, auth);
  t.teardown(() => api.close());
  const evil = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
  api.register('Distminer.Status', () => ({ miner: `f0${evil}`, roles: [evil], uptimeMs: 1, escalated: false, actors: [{ id: `r${evil}`, status: 'running', state: 'running', detail: evil, degraded: evil, restarts: 0, uptimeMs: 1, context: { data: { note: evil } } }] }), 'read');
  api.serveMetrics({ needToken: false });
  const b = await browser(t);
  const page = await b.newPage();
  await page.goto(`http://127.0.0.1:${api.address.port}/`, { waitUntil: 'load' });
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  await logIn(page, auth.issue('read'));
  await page.waitForSelector('#actors tr[data-role]', { timeout: 10_000 });
  t.is(await page.evaluate(`document.querySelectorAll('img').length`), 0);
  t.is(await page.evaluate(`document.querySelectorAll('script').length`), 1, 'only the page\'s own script');
  t.is(await page.evaluate('window.pwned'), undefined);
  t.true((await text(page, '#actors')).includes(evil));
  t.true((await text(page, '#alerts')).includes(`DistminerRoleDegraded: role r${evil} is degraded: ${evil}`));
});

// The cluster: a host that lists the others ([Distminer] ClusterPeers, here the environment
// form) shows each one's roles and alerts on its page; a host that stops answering is flagged.
test('the cluster on one page: a peer host\'s roles and its alerts are shown; a peer that dies is flagged NOT ANSWERING with an alert', async (t) => {
  const b = await startMiner(t);
  const a = await startMiner(t, { DISTMINER_CLUSTER_PEERS: `${b.read}:/ip4/127.0.0.1/tcp/${b.addr.port}/http` });
  const br = await browser(t);
  const page = await br.newPage();
  await page.goto(`${a.url}/`, { waitUntil: 'load' });
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  await logIn(page, a.read);
  const peerRow = `#cluster tr[data-host="/ip4/127.0.0.1/tcp/${b.addr.port}/http"]`;
  await page.waitForSelector(peerRow, { timeout: 15_000 });
  t.regex(await text(page, peerRow), /winning-post running/);
  t.truthy(await page.$('#cluster tr[data-host="this host"]'));
  // Host b's role gets stuck: its alert shows on a's page, named by its host.
  await callApi(b.addr, b.admin, 'Distminer.ActorCrashDrill', ['sector-id', 'hang']);
  const stuckAt = Date.now();
  await page.waitForFunction(`[...document.querySelectorAll('#alerts li[data-alert="DistminerRoleUnresponsive"]')].some((li) => li.textContent.includes('${hostname()}: role sector-id'))`, { timeout: 30_000 });
  t.log(`peer's stuck-role alert shown ${Date.now() - stuckAt} ms after the role got stuck`);
  // Host b dies: flagged within a poll or two (each peer answers within 2.5 s or is reported).
  b.child.kill('SIGKILL');
  const t0 = Date.now();
  await page.waitForFunction(`document.querySelector('${peerRow}').textContent.includes('NOT ANSWERING')`, { timeout: 15_000 });
  t.log(`peer flagged ${Date.now() - t0} ms after it was killed`);
  t.regex(await text(page, '#alerts'), /DistminerPeerUnreachable: cluster host \/ip4\/127\.0\.0\.1\/tcp\/\d+\/http did not answer: ECONNREFUSED/);
  t.regex(await text(page, 'tr[data-role="winning-post"]'), /running/, 'this host\'s own roles are still shown');
});
