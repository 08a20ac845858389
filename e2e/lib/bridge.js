// The real sentinelx-mcp binary, run as child processes: the bridge itself and
// the upstream agent (`sentinelx-mcp agent`), wired to a real IdP.
//
//   const s = await startStack();          // idp + agent + bridge
//   s.bridge.mcpUrl, s.idp.getToken(...), s.bridge.logs()
//   await s.stop();
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startIdp } from './idp.js';

const __dirname = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(__dirname, '../..');
export const E2E_DIR = path.resolve(__dirname, '..');
export const BIN = path.join(E2E_DIR, '.bin', 'sentinelx-mcp');
export const LOG_DIR = path.join(E2E_DIR, '.logs');

const LOG_CAP = 8 * 1024 * 1024;
const live = new Set(); // children still running, killed on process exit no matter what

function killAll() {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killAll);
// The test runner ends a file's process with a signal on timeout or Ctrl-C:
// take the children down with it, then die as the signal asked.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAll();
    process.kill(process.pid, sig);
  });
}

/** A free TCP port on 127.0.0.1 (bind :0, read it, close). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function run(cmd, args, { cwd, env, timeoutMs }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); resolve({ code: -1, out: String(err) }); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? -1, signal, out }); });
  });
}

let built;
/**
 * Builds ./cmd/sentinelx-mcp into e2e/.bin/sentinelx-mcp (once per process;
 * Go's build cache makes later test files cheap). SENTINELX_MCP_BIN=<path>
 * skips the build and uses that binary.
 */
export async function buildBinary() {
  if (process.env.SENTINELX_MCP_BIN) return process.env.SENTINELX_MCP_BIN;
  built ??= (async () => {
    fs.mkdirSync(path.dirname(BIN), { recursive: true });
    const { code, signal, out } = await run('go', ['build', '-o', BIN, './cmd/sentinelx-mcp'], {
      cwd: REPO_ROOT,
      env: process.env,
      timeoutMs: 280_000,
    });
    if (code !== 0) {
      throw new Error(`go build ./cmd/sentinelx-mcp failed (exit ${code}${signal ? ', ' + signal : ''}):\n${out}`);
    }
    return BIN;
  })();
  return built;
}

// Only what a process needs from the test runner's environment: the bridge
// must not pick up stray OIDC_* / MCP_* settings from the developer's shell.
function baseEnv() {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ', 'GOCOVERDIR', 'GORACE'];
  const env = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

function mergeEnv(base, overrides = {}) {
  const env = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

/**
 * If this Node process is killed outright (SIGKILL, or the test runner dying
 * first), no handler runs and the child would outlive the test. A detached
 * shell watches both pids and, if this process goes away while the child is
 * still there, ends that child (its pid only, checked against its command line).
 * It exits by itself as soon as the child is gone.
 */
function startReaper(childPid, bin) {
  const script = `
    while kill -0 ${process.pid} 2>/dev/null && kill -0 ${childPid} 2>/dev/null; do sleep 0.5; done
    if kill -0 ${childPid} 2>/dev/null && tr '\\0' ' ' < /proc/${childPid}/cmdline 2>/dev/null | grep -qF -- "$1"; then
      kill -TERM ${childPid} 2>/dev/null; sleep 3; kill -KILL ${childPid} 2>/dev/null
    fi`;
  try {
    const r = spawn('bash', ['-c', script, 'reaper', bin], { detached: true, stdio: 'ignore' });
    r.on('error', () => {});
    r.unref();
  } catch { /* best effort */ }
}

/** Spawns a child and captures its output; kill()/stop() by pid only. */
function spawnCaptured(bin, args, env, label) {
  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  if (child.pid) startReaper(child.pid, bin);
  const cap = { stdout: '', stderr: '' };
  const append = (k) => (d) => { if (cap[k].length < LOG_CAP) cap[k] += d; };
  child.stdout.on('data', append('stdout'));
  child.stderr.on('data', append('stderr'));
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); });
    child.on('error', (err) => { live.delete(child); cap.stderr += `\n[spawn error] ${err}`; resolve({ code: -1, signal: null, err }); });
  });
  let exitInfo = null;
  exited.then((e) => { exitInfo = e; });

  async function stop() {
    if (!exitInfo) {
      child.kill('SIGTERM');
      const t = setTimeout(() => { if (!exitInfo) child.kill('SIGKILL'); }, 5000);
      await exited;
      clearTimeout(t);
    }
    saveLogs();
    return exitInfo;
  }
  // Kept for diagnosis after a run: e2e/.logs/<label>-<pid>.log (git-ignored).
  let saved = false;
  function saveLogs() {
    if (saved) return;
    saved = true;
    try {
      fs.mkdirSync(LOG_DIR, { recursive: true });
      fs.writeFileSync(path.join(LOG_DIR, `${label}-${child.pid}.log`),
        `# ${bin} ${args.join(' ')}\n# exit: ${JSON.stringify(exitInfo)}\n--- stdout ---\n${cap.stdout}\n--- stderr ---\n${cap.stderr}`);
    } catch { /* diagnostics only */ }
  }
  return {
    label,
    child,
    exited,
    get exitInfo() { return exitInfo; },
    stdout: () => cap.stdout,
    stderr: () => cap.stderr,
    logs: () => cap.stdout + cap.stderr,
    stop,
  };
}

function describeExit(p) {
  const e = p.exitInfo;
  return e ? `exited (code ${e.code}${e.signal ? ', signal ' + e.signal : ''})` : 'still running';
}

/**
 * Starts the upstream agent: `sentinelx-mcp agent --addr 127.0.0.1:0`.
 * It prints `agent listening on http://127.0.0.1:PORT`, then `sandbox <dir>`:
 * the returned object has `url` and `sandbox` (the real directory behind the
 * agent's virtual filesystem; undefined if the line never came).
 */
export async function startAgent({ token, bin, env: extraEnv, timeoutMs = 20_000 } = {}) {
  bin ??= await buildBinary();
  const env = mergeEnv(baseEnv(), { SENTINELX_TOKEN: token, ...extraEnv });
  const p = spawnCaptured(bin, ['agent', '--addr', '127.0.0.1:0'], env, 'agent');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = p.stdout().match(/agent listening on (http:\/\/127\.0\.0\.1:\d+)/);
    if (m) {
      // The next line names the sandbox root (virtual "/x" is <sandbox>/x);
      // it follows immediately, but give it a moment on a busy machine.
      const sandboxDeadline = Math.min(deadline, Date.now() + 2000);
      let sb = p.stdout().match(/^sandbox (.+)$/m);
      while (!sb && !p.exitInfo && Date.now() < sandboxDeadline) {
        await sleep(20);
        sb = p.stdout().match(/^sandbox (.+)$/m);
      }
      return Object.assign(p, { url: m[1], sandbox: sb?.[1] });
    }
    if (p.exitInfo) break;
    await sleep(50);
  }
  await p.stop();
  throw new Error(
    `agent did not print "agent listening on http://127.0.0.1:PORT" within ${timeoutMs} ms; ${describeExit(p)}\n` +
      `--- stdout ---\n${p.stdout()}\n--- stderr ---\n${p.stderr()}`,
  );
}

/**
 * Starts the bridge (default subcommand) on a free loopback port and waits for
 * GET /healthz → 200.
 * @param {object} o
 * @param {string} o.issuer     OIDC_ISSUER
 * @param {string} o.agentUrl   SENTINELX_URL
 * @param {string} o.agentToken SENTINELX_TOKEN
 * @param {object} [o.env]      extra env; a value of undefined removes a variable
 * @param {string[]} [o.args]   argv (default: none → `serve`)
 */
export async function startBridge({ issuer, agentUrl, agentToken, env: extraEnv, args = [], bin, timeoutMs = 20_000 } = {}) {
  bin ??= await buildBinary();
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const mcpUrl = `${baseUrl}/mcp`;
  const env = mergeEnv(baseEnv(), {
    MCP_HOST: '127.0.0.1',
    MCP_PORT: port,
    RESOURCE_URL: baseUrl,
    OIDC_ISSUER: issuer,
    OIDC_EXPECTED_AUDIENCE: mcpUrl,
    SENTINELX_URL: agentUrl,
    SENTINELX_TOKEN: agentToken,
    LOG_FORMAT: 'json',
    ...extraEnv,
  });
  const p = spawnCaptured(bin, args, env, 'bridge');
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (p.exitInfo) break;
    try {
      const r = await fetch(`${baseUrl}/healthz`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(1000) });
      await r.body?.cancel();
      if (r.status === 200) return Object.assign(p, { port, baseUrl, mcpUrl, env });
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = err?.cause?.code || err?.code || String(err);
    }
    await sleep(100);
  }
  await p.stop();
  throw new Error(
    `bridge did not answer GET ${baseUrl}/healthz with 200 within ${timeoutMs} ms (last: ${last}); ${describeExit(p)}\n` +
      `--- stdout ---\n${p.stdout()}\n--- stderr ---\n${p.stderr()}`,
  );
}

/**
 * IdP + agent + bridge. Everything started is stopped by stop(), also when a
 * later step fails (the error is rethrown after cleanup).
 * @param {{bridgeEnv?: object|((idp) => object), idp?: object}} [o] bridgeEnv may be a
 *   function of the started IdP (e.g. to pass a client secret); idp = startIdp options
 */
export async function startStack({ bridgeEnv, idp: idpOpts } = {}) {
  const agentToken = crypto.randomBytes(24).toString('base64url');
  const started = [];
  const stop = async () => {
    for (const s of started.reverse()) {
      try { await s.stop(); } catch { /* keep tearing down */ }
    }
    started.length = 0;
  };
  try {
    const bin = await buildBinary();
    const idp = await startIdp(idpOpts);
    started.push(idp);
    const agent = await startAgent({ token: agentToken, bin });
    started.push(agent);
    const env = typeof bridgeEnv === 'function' ? bridgeEnv(idp) : bridgeEnv;
    const bridge = await startBridge({ issuer: idp.issuer, agentUrl: agent.url, agentToken, env, bin });
    started.push(bridge);
    return { idp, agent, bridge, agentToken, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Starts `sentinelx-mcp dev` (bridge + embedded OAuth authorization server,
 * and the embedded agent unless noAgent) on free loopback ports and waits for
 * its banner. The returned process has mcpUrl, issuer and the pre-registered
 * client (clientId, clientSecret); stop() ends it by pid.
 * @param {{noAgent?: boolean, args?: string[], env?: object, bin?: string, timeoutMs?: number}} [o]
 */
export async function startDev({ noAgent = true, args = [], env: extraEnv, bin, timeoutMs = 20_000 } = {}) {
  bin ??= await buildBinary();
  const port = await freePort();
  let idpPort = await freePort();
  while (idpPort === port) idpPort = await freePort();
  const argv = ['dev', '--port', String(port), '--idp-port', String(idpPort), ...(noAgent ? ['--no-agent'] : []), ...args];
  const p = spawnCaptured(bin, argv, mergeEnv(baseEnv(), extraEnv), 'dev');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !p.exitInfo) {
    const out = p.stdout();
    const mcp = out.match(/^\s+MCP URL\s+(http:\/\/\S+)/m);
    const iss = out.match(/^\s+Issuer\s+(http:\/\/\S+)/m);
    const cli = out.match(/^\s+Client\s+(\S+) \/ (\S+)/m);
    if (mcp && iss && cli) {
      return Object.assign(p, { port, idpPort, mcpUrl: mcp[1], issuer: iss[1], clientId: cli[1], clientSecret: cli[2] });
    }
    await sleep(50);
  }
  await p.stop();
  throw new Error(`sentinelx-mcp ${argv.join(' ')}: no banner within ${timeoutMs} ms; ${describeExit(p)}\n` +
    `--- stdout ---\n${p.stdout()}\n--- stderr ---\n${p.stderr()}`);
}
