// The browser-visible pages (issue 6) in real headless Chromium: status page,
// /healthz, /readyz and the protected resource metadata, each checked in the
// DOM, with no console error and no CSP violation, and screenshotted into
// e2e/test-output/. PAGES_SCREENSHOT_DIR=../docs/screenshots also copies the
// four 1280×800 light-theme shots there (how docs/screenshots/ is refreshed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, startBridge, startDev } from '../lib/bridge.js';
import { CLIENTS } from '../lib/idp.js';
import { postMcp, toolCallBody } from '../lib/http.js';
import { launchChromium, requireChromium, screenshot } from '../lib/chromium.js';

const TOOLS = [
  'ping', 'sentinel_state', 'sentinel_exec', 'sentinel_service', 'sentinel_restart',
  'sentinel_edit', 'sentinel_edit_upload_init', 'sentinel_edit_upload_file', 'sentinel_edit_upload_complete',
  'sentinel_upload_file', 'sentinel_upload_init', 'sentinel_upload_chunk', 'sentinel_upload_complete',
  'sentinel_script_run', 'sentinel_capabilities', 'sentinel_help',
];
const PRM_PATH = '/.well-known/oauth-protected-resource/mcp';
const PRM_ROOT = '/.well-known/oauth-protected-resource';
const docsDir = process.env.PAGES_SCREENSHOT_DIR;

let s; // no OIDC_EXPECTED_AUDIENCE, introspection credentials set
let withAud; // a second bridge on the same IdP and agent, audience configured
let browser;
let clientSecret;
let version;
const usedTokens = [];

async function waitReady(baseUrl) {
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    const r = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(6000) });
    last = await r.text();
    if (r.status === 200) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`${baseUrl}/readyz never became ready: ${last}`);
}

before(async () => {
  s = await startStack({
    bridgeEnv: (idp) => {
      clientSecret = idp.secretOf(CLIENTS.all.clientId);
      return { OIDC_EXPECTED_AUDIENCE: undefined, OIDC_CLIENT_ID: CLIENTS.all.clientId, OIDC_CLIENT_SECRET: clientSecret };
    },
  });
  withAud = await startBridge({ issuer: s.idp.issuer, agentUrl: s.agent.url, agentToken: s.agentToken });
  await Promise.all([waitReady(s.bridge.baseUrl), waitReady(withAud.baseUrl)]);
  version = (await (await fetch(`${s.bridge.baseUrl}/healthz`)).json()).version;
  // A real authenticated call first, so there is a token the pages could leak.
  const token = await s.idp.getToken({ clientId: CLIENTS.all.clientId, resource: s.bridge.mcpUrl });
  usedTokens.push(token);
  const r = await postMcp(s.bridge.mcpUrl, toolCallBody(1, 'sentinel_state'), { token });
  assert.equal(r.status, 200, r.text);
  requireChromium();
  browser = await launchChromium();
}, { timeout: 300_000 });

after(async () => {
  await browser?.close();
  await withAud?.stop();
  await s?.stop();
});

/** Loads path, asserts a clean load, returns the page and its text. */
async function load(baseUrl, path, name, { docs = false } = {}) {
  const { page, response, problems } = await browser.open(baseUrl + path);
  assert.ok(response, `${path}: no response`);
  assert.match(response.headers()['content-type'] || '', /^text\/html/, `${path}: a browser gets HTML`);
  assert.equal(response.headers()['content-security-policy'],
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  // The stylesheet is in effect (not blocked): the light theme's background.
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(246, 247, 249)', `${path}: stylesheet applied`);
  assert.deepEqual(await problems(), [], `${path}: console errors or CSP violations`);
  await screenshot(page, name, { dir: docs ? docsDir : undefined });
  const html = await page.content();
  const text = await page.evaluate(() => document.body.innerText);
  return { page, html, text, response };
}

const textOf = (page, sel) => page.locator(sel).first().innerText();

test('Chromium is installed (the page tests need it; CI installs Debian chromium)', () => {
  requireChromium();
});

test('status page: version, issuer, the 16 tools, audience warning when OIDC_EXPECTED_AUDIENCE is unset', { timeout: 60_000 }, async () => {
  const { page } = await load(s.bridge.baseUrl, '/', 'status-audience-off');
  assert.equal(await textOf(page, '#version'), version);
  assert.equal(await textOf(page, '#issuer'), s.idp.issuer);
  assert.equal(await textOf(page, '#mcp-url'), s.bridge.mcpUrl);
  assert.deepEqual(await page.locator('#tools code.tool-name').allInnerTexts(), TOOLS);
  assert.equal(await page.locator('#tools tbody tr').count(), 16);
  const warning = page.locator('#audience-warning');
  assert.ok(await warning.isVisible(), 'audience warning visible');
  assert.match(await warning.innerText(), /Audience check is OFF/);
  assert.match(await warning.innerText(), new RegExp(`OIDC_EXPECTED_AUDIENCE=${s.bridge.mcpUrl.replace(/[.]/g, '\\.')}`));
  assert.match(await textOf(page, '#audience'), /OFF/);
  assert.match(await textOf(page, '#upstream-state'), /reachable/);
  assert.match(await textOf(page, '#keys'), /^\d+ fetched/);
  assert.match(await page.locator('dt:text-is("Introspection") + dd').innerText(), /ON/);
  for (const href of [PRM_PATH, PRM_ROOT, '/healthz', '/readyz', '/metrics']) {
    assert.equal(await page.locator(`a[href="${href}"]`).count() > 0, true, `link to ${href}`);
  }
  await page.close();
});

test('status page with OIDC_EXPECTED_AUDIENCE: no warning, the audience listed; dark theme follows prefers-color-scheme', { timeout: 60_000 }, async () => {
  const { page } = await load(withAud.baseUrl, '/', 'status', { docs: true });
  assert.equal(await page.locator('#audience-warning').count(), 0);
  assert.match(await textOf(page, '#audience'), new RegExp(`ON\\s+${withAud.mcpUrl.replace(/[.]/g, '\\.')}`));
  // Only the MCP URL is listed, while the root PRM names the base URL: the page says so.
  const root = page.locator('#root-audience-warning');
  assert.ok(await root.isVisible(), 'root-form audience warning visible');
  assert.ok((await root.innerText()).includes(`OIDC_EXPECTED_AUDIENCE=${withAud.mcpUrl},${withAud.baseUrl}`), await root.innerText());
  await page.emulateMedia({ colorScheme: 'dark' });
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(15, 18, 22)');
  await screenshot(page, 'status-dark');
  await page.close();
});

test('/healthz in a browser: status and version; curl still gets JSON', { timeout: 60_000 }, async () => {
  const { page, response } = await load(s.bridge.baseUrl, '/healthz', 'healthz', { docs: true });
  assert.equal(response.status(), 200);
  assert.match(response.headers().vary || '', /Accept/);
  assert.equal(await textOf(page, '#status'), 'ok');
  assert.equal(await textOf(page, '#version'), version);
  const r = await fetch(`${s.bridge.baseUrl}/healthz`, { headers: { accept: '*/*' } });
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal((await r.json()).status, 'ok');
  await page.close();
});

test('/readyz in a browser: ready, both checks ok', { timeout: 60_000 }, async () => {
  const { page, response } = await load(s.bridge.baseUrl, '/readyz', 'readyz', { docs: true });
  assert.equal(response.status(), 200);
  assert.equal(await textOf(page, '#status'), 'ready');
  for (const c of ['upstream', 'token_keys']) {
    assert.match(await textOf(page, `#check-${c} h2`), /ok$/, c);
  }
  await page.close();
});

test('protected resource metadata in a browser: MCP URL to copy, fields explained, the JSON shown', { timeout: 60_000 }, async () => {
  const { page } = await load(s.bridge.baseUrl, PRM_PATH, 'prm', { docs: true });
  assert.equal(await textOf(page, '#mcp-url'), s.bridge.mcpUrl);
  const shown = JSON.parse(await textOf(page, '#json'));
  const served = await (await fetch(`${s.bridge.baseUrl}${PRM_PATH}`)).json();
  assert.deepEqual(shown, served, 'the page shows the very document clients get');
  assert.deepEqual(served.authorization_servers, [s.idp.issuer]);
  const fields = await page.locator('#fields tbody tr td:first-child').allInnerTexts();
  assert.deepEqual(fields, Object.keys(served));
  for (const meaning of await page.locator('#fields tbody tr td:nth-child(3)').allInnerTexts()) {
    assert.ok(meaning.trim().length > 10, 'every field is explained');
  }
  await page.close();

  const root = await load(s.bridge.baseUrl, PRM_ROOT, 'prm-root');
  assert.equal(await textOf(root.page, '#mcp-url'), s.bridge.mcpUrl);
  assert.match(root.text, /root form/);
  await root.page.close();
});

test('no page shows a secret: agent token, client secret, access token', { timeout: 60_000 }, async () => {
  const secrets = { SENTINELX_TOKEN: s.agentToken, OIDC_CLIENT_SECRET: clientSecret, 'access token': usedTokens[0] };
  for (const path of ['/', '/healthz', '/readyz', PRM_PATH, PRM_ROOT]) {
    const { page, html } = await load(s.bridge.baseUrl, path, `secrets-${path.replace(/\W+/g, '_')}`);
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(value && value.length >= 16, `${what} is known to the test`);
      assert.ok(!html.includes(value), `${path} shows ${what}`);
    }
    await page.close();
  }
});

test('the CSP is enforced and a violation would be caught (control)', { timeout: 60_000 }, async () => {
  const { page, problems } = await browser.open(`${s.bridge.baseUrl}/healthz`);
  await page.evaluate(() => {
    const img = document.createElement('img');
    img.src = 'https://cdn.example.invalid/x.png';
    document.body.append(img);
  });
  await page.waitForFunction(() => window.__cspViolations.length > 0, null, { timeout: 5000 });
  const got = await problems();
  assert.ok(got.some((p) => /CSP violation: img-src blocked https:\/\/cdn\.example\.invalid/.test(p)), got.join('\n'));
  await page.close();
});

test('many hosts (dev --hosts 3): the status page has the hosts table, /readyz the hosts check, both clean in Chromium', { timeout: 120_000 }, async () => {
  const dev = await startDev({ noAgent: false, args: ['--hosts', '3'] });
  try {
    const base = dev.mcpUrl.replace(/\/mcp$/, '');
    // The first probes run in the background: wait until all three answered.
    const deadline = Date.now() + 20_000;
    let ready;
    while (Date.now() < deadline) {
      ready = await (await fetch(`${base}/readyz`, { headers: { accept: 'application/json' } })).json();
      if (ready.checks?.hosts?.detail?.reachable === 3) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(ready.checks.hosts.detail.reachable, 3, JSON.stringify(ready));

    const { page } = await load(base, '/', 'status-fleet');
    const rows = await page.$$eval('#hosts tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.innerText.trim())));
    assert.deepEqual(rows.map((r) => r[0]), ['db-1', 'web-1', 'web-2']);
    for (const r of rows) assert.equal(r[2], 'reachable', JSON.stringify(r));
    assert.deepEqual(rows.map((r) => r[1]), ['env=prod role=db', 'env=prod role=web', 'env=staging role=web']);
    assert.equal(await page.$('#h-upstream'), null, 'no single-agent card with a registry');
    assert.equal(await page.$('#upstream-warning'), null, 'no agent warning while the hosts answer');
    await page.close();

    const rz = await load(base, '/readyz', 'readyz-fleet');
    assert.match(await textOf(rz.page, '#check-hosts h2'), /ok$/);
    const text = await rz.page.evaluate(() => document.querySelector('#check-hosts').innerText);
    assert.match(text, /web-1: \{latency_ms: \d+, reachable: true\}/, text);
    assert.doesNotMatch(text, /map\[/, 'no Go map syntax on the page');
    await rz.page.close();
  } finally {
    await dev.stop();
  }
});
