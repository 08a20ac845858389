// The production shape: a real nginx running deploy/nginx.conf (TLS, HTTP/2)
// in front of the real binary, with RESOURCE_URL=https://127.0.0.1:<port>.
// The official TypeScript MCP client does discovery, OAuth and tool calls
// through it, trusting the test certificate only; the seed's curl smoke test
// runs through it with --cacert; /metrics stays off the public side.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, freePort, E2E_DIR } from '../lib/bridge.js';
import { CLIENTS, SENTINELX_SCOPES } from '../lib/idp.js';
import { findNginx, startNginx, httpsGet, parsePrometheusText, sampleValue } from '../lib/nginx.js';
import { parseChallenge } from '../lib/http.js';

function sh(cmd, args, { env, timeoutMs = 20_000, input } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: env ?? process.env, cwd: E2E_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
    child.stdin.end(input ?? '');
  });
}

const haveNginx = !!findNginx();

describe('behind nginx (deploy/nginx.conf, TLS)', { skip: haveNginx ? false : 'nginx not installed (apt-get install -y nginx)' }, () => {
  let s;
  let ng;
  let base;
  before(async () => {
    const listenPort = await freePort();
    base = `https://127.0.0.1:${listenPort}`;
    s = await startStack({ bridgeEnv: { RESOURCE_URL: base, OIDC_EXPECTED_AUDIENCE: `${base}/mcp` } });
    ng = await startNginx({ listenPort, upstreamPort: s.bridge.port });
  }, { timeout: 120_000 });
  after(async () => {
    await ng?.stop();
    await s?.stop();
  });

  test('PRM through nginx: resource is the https MCP URL (path form) and base URL (root form); HSTS set', { timeout: 10_000 }, async () => {
    const p = await httpsGet(`${base}/.well-known/oauth-protected-resource/mcp`, ng.caFile);
    assert.equal(p.status, 200, p.body);
    const prm = JSON.parse(p.body);
    assert.equal(prm.resource, `${base}/mcp`);
    assert.deepEqual(prm.authorization_servers, [s.idp.issuer]);
    assert.match(p.headers['strict-transport-security'] ?? '', /max-age=\d+/);
    const root = await httpsGet(`${base}/.well-known/oauth-protected-resource`, ng.caFile);
    assert.equal(root.status, 200, root.body);
    assert.equal(JSON.parse(root.body).resource, base);
    const health = await httpsGet(`${base}/healthz`, ng.caFile, { accept: 'application/json' });
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).status, 'ok');
  });

  test('401 through nginx points resource_metadata at the https PRM, HSTS on /mcp too', { timeout: 10_000 }, async () => {
    const r = await sh('curl', ['-sS', '-o', '/dev/null', '-D', '-', '--cacert', ng.caFile, '-X', 'POST', `${base}/mcp`,
      '-H', 'Content-Type: application/json', '-H', 'Accept: application/json, text/event-stream',
      '-d', '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_state","arguments":{}}}']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/\S+ 401/m, r.stdout);
    const www = r.stdout.match(/^www-authenticate: (.*)\r$/im)?.[1];
    const c = parseChallenge(www);
    assert.equal(c?.params.resource_metadata, `${base}/.well-known/oauth-protected-resource/mcp`, www);
    assert.match(r.stdout, /^strict-transport-security: max-age=\d+/im);
  });

  test('TS SDK client over https: 401 → PRM → OAuth (resource = https MCP URL) → tools', { timeout: 30_000 }, async () => {
    // A child process, so NODE_EXTRA_CA_CERTS makes Node's fetch trust the
    // test certificate (and nothing is disabled: verification stays on).
    const script = `
      import { Client } from '@modelcontextprotocol/sdk/client/index.js';
      import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
      import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
      const e = process.env;
      const log = [];
      const recordingFetch = async (input, init = {}) => {
        const url = String(input instanceof Request ? input.url : input);
        const res = await fetch(input, init);
        const entry = { method: init.method || 'GET', url, status: res.status };
        if (url.includes('/.well-known/oauth-protected-resource') && res.ok) entry.prm = await res.clone().json();
        if (url.endsWith('/token') && res.ok) {
          const j = await res.clone().json();
          entry.aud = JSON.parse(Buffer.from(j.access_token.split('.')[1], 'base64url')).aud;
        }
        log.push(entry);
        return res;
      };
      const authProvider = new ClientCredentialsProvider({
        clientId: e.CLIENT_ID, clientSecret: e.CLIENT_SECRET, scope: e.SCOPES, expectedIssuer: e.ISSUER,
      });
      const client = new Client({ name: 'sentinelx-e2e-nginx', version: '0.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(e.MCP_URL), { authProvider, fetch: recordingFetch });
      await client.connect(transport, { timeout: 10000 });
      const tools = (await client.listTools(undefined, { timeout: 10000 })).tools.map((t) => t.name);
      const state = await client.callTool({ name: 'sentinel_state', arguments: {} }, undefined, { timeout: 15000 });
      const exec = await client.callTool({ name: 'sentinel_exec', arguments: { cmd: 'uptime' } }, undefined, { timeout: 15000 });
      await client.close();
      console.log(JSON.stringify({ tools, state, exec, log }));
    `;
    const env = {
      PATH: process.env.PATH,
      NODE_EXTRA_CA_CERTS: ng.caFile,
      MCP_URL: `${base}/mcp`,
      ISSUER: s.idp.issuer,
      CLIENT_ID: CLIENTS.all.clientId,
      CLIENT_SECRET: s.idp.secretOf(CLIENTS.all.clientId),
      SCOPES: SENTINELX_SCOPES.join(' '),
    };
    const r = await sh(process.execPath, ['--input-type=module', '-'], { env, input: script, timeoutMs: 25_000 });
    assert.equal(r.code, 0, `client failed:\n${r.stderr}\n${r.stdout}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    const trace = out.log.map((x) => `${x.method} ${x.url} → ${x.status}`).join('\n');
    assert.ok(out.log.some((x) => x.url === `${base}/mcp` && x.status === 401), `a 401 over https:\n${trace}`);
    const prm = out.log.find((x) => x.prm);
    assert.ok(prm?.url.startsWith(`${base}/.well-known/oauth-protected-resource`), `PRM fetched through nginx:\n${trace}`);
    assert.equal(prm.prm.resource, `${base}/mcp`);
    assert.equal(out.log.find((x) => x.aud)?.aud, `${base}/mcp`, `token audience is the https MCP URL:\n${trace}`);
    assert.ok(out.tools.includes('sentinel_exec'), out.tools.join(','));
    assert.ok(!out.state.isError, JSON.stringify(out.state));
    assert.equal(typeof out.state.structuredContent.total_executions, 'number');
    assert.ok(!out.exec.isError, JSON.stringify(out.exec));
    assert.match(out.exec.structuredContent.output, /load average|up /);
  });

  test('the seed\'s curl smoke test through nginx (curl --cacert)', { timeout: 30_000 }, async () => {
    // Steps 1–4 of the seed README's "MCP smoke test (curl)" (smoke-curl.test.js
    // checks them against the seed verbatim); here the URL is the https one and
    // each curl gets --cacert for the test certificate.
    const token = await s.idp.getToken({ clientId: CLIENTS.all.clientId, resource: `${base}/mcp` });
    const curl = `curl --cacert ${ng.caFile}`;
    const script = `set -e
SESSION=$(${curl} -si -X POST ${base}/mcp \\
  -H "Accept: application/json, text/event-stream" \\
  -H "Content-Type: application/json" \\
  -d '{
    "jsonrpc":"2.0","id":"1","method":"initialize",
    "params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"curl","version":"0.1"}}
  }' | grep -i mcp-session-id | awk '{print $2}' | tr -d '\\r') || true
${curl} -s -X POST ${base}/mcp \\
  -H "Content-Type: application/json" \\
  -H "mcp-session-id: $SESSION" \\
  -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
echo '@@PING@@'
${curl} -s -X POST ${base}/mcp \\
  -H "Content-Type: application/json" \\
  -H "mcp-session-id: $SESSION" \\
  -d '{"jsonrpc":"2.0","id":"2","method":"tools/call","params":{"name":"ping","arguments":{}}}' \\
  | sed -n 's/^data: //p' | jq -c
echo '@@EXEC@@'
${curl} -s -X POST ${base}/mcp \\
  -H "Content-Type: application/json" \\
  -H "mcp-session-id: $SESSION" \\
  -H "Authorization: Bearer ${token}" \\
  -d '{"jsonrpc":"2.0","id":"3","method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"}}}' \\
  | sed -n 's/^data: //p' | jq -c
`;
    const r = await sh('bash', ['-c', script]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const [, ping, exec] = r.stdout.split(/@@PING@@\n|@@EXEC@@\n/);
    const p = JSON.parse(ping);
    assert.equal(p.id, '2');
    assert.ok(p.result && !p.result.isError, ping);
    const x = JSON.parse(exec);
    assert.equal(x.id, '3');
    assert.ok(x.result && !x.result.isError, exec);
    assert.match(x.result.structuredContent.output, /load average|up /);
    assert.ok(!s.bridge.logs().includes(token), 'token not in the bridge logs');
  });

  test('HTTP/2 is negotiated over TLS', { timeout: 10_000 }, async () => {
    const r = await sh('curl', ['-sS', '--http2', '--cacert', ng.caFile, '-o', '/dev/null', '-w', '%{http_version}', `${base}/healthz`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '2');
  });

  test('a body over client_max_body_size (16m = MCP_MAX_BODY_BYTES) is refused by nginx with 413', { timeout: 15_000 }, async () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sx-body-')), 'big.json');
    fs.writeFileSync(f, Buffer.alloc(17 << 20, 0x20));
    try {
      const r = await sh('curl', ['-sS', '--cacert', ng.caFile, '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST',
        '-H', 'Content-Type: application/json', '--data-binary', `@${f}`, `${base}/mcp`]);
      assert.equal(r.stdout, '413', r.stderr);
    } finally {
      fs.rmSync(path.dirname(f), { recursive: true, force: true });
    }
  });

  test('/metrics and /readyz are not reachable through nginx; /metrics on loopback counts the calls made through it', { timeout: 10_000 }, async () => {
    for (const p of ['/metrics', '/readyz', '/metrics/', '/anything-else']) {
      const r = await httpsGet(`${base}${p}`, ng.caFile);
      assert.ok(r.status === 404 || r.status === 403, `${p} through nginx: ${r.status}`);
      assert.ok(!r.body.includes('sentinelx_'), `${p} leaks metrics`);
    }
    const res = await fetch(`${s.bridge.baseUrl}/metrics`);
    assert.equal(res.status, 200);
    const fams = parsePrometheusText(await res.text());
    assert.equal(fams.get('sentinelx_tool_calls_total')?.type, 'counter');
    assert.equal(fams.get('sentinelx_upstream_request_duration_seconds')?.type, 'histogram');
    assert.ok(sampleValue(fams, 'sentinelx_tool_calls_total', { tool: 'sentinel_exec', outcome: 'ok' }) >= 2);
    assert.ok(sampleValue(fams, 'sentinelx_tool_calls_total', { tool: 'sentinel_state', outcome: 'ok' }) >= 1);
    assert.ok(sampleValue(fams, 'sentinelx_tool_calls_total', { tool: 'ping', outcome: 'ok' }) >= 1);
    assert.ok(sampleValue(fams, 'sentinelx_upstream_request_duration_seconds_count', { tool: 'sentinel_exec' }) >= 2);
    assert.ok(sampleValue(fams, 'sentinelx_http_requests_total', { route: '/mcp', code: '401' }) >= 2);
    assert.ok(sampleValue(fams, 'sentinelx_token_verifications_total', { outcome: 'valid', reason: 'jwt' }) >= 2);
    assert.ok(sampleValue(fams, 'sentinelx_jwks_fetches_total', { outcome: 'ok' }) >= 1);
    assert.equal(sampleValue(fams, 'sentinelx_build_info'), 1);
  });
});
