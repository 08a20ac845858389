// RFC 9728 protected resource metadata, both locations (SPEC-CHECKLIST §A).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/bridge.js';
import { SENTINELX_SCOPES } from '../lib/idp.js';

let s;
before(async () => { s = await startStack(); }, { timeout: 300_000 });
after(async () => { await s?.stop(); });

async function getPrm(path, headers = {}) {
  const res = await fetch(`${s.bridge.baseUrl}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* asserted below */ }
  return { res, text, json };
}

function checkCommon({ res, text, json }, where) {
  assert.equal(res.status, 200, `${where}: status (body: ${text.slice(0, 300)})`);
  assert.match(res.headers.get('content-type') || '', /^application\/json\b/i, `${where}: content-type`);
  assert.ok(json && typeof json === 'object' && !Array.isArray(json), `${where}: one JSON object, got ${text.slice(0, 200)}`);
  assert.deepEqual(json.authorization_servers, [s.idp.issuer], `${where}: authorization_servers = [issuer verbatim]`);
  assert.ok(Array.isArray(json.scopes_supported), `${where}: scopes_supported is an array`);
  for (const sc of SENTINELX_SCOPES) assert.ok(json.scopes_supported.includes(sc), `${where}: scopes_supported includes ${sc}`);
  assert.deepEqual(json.bearer_methods_supported, ['header'], `${where}: bearer_methods_supported`);
  assert.equal(typeof json.resource_name, 'string', `${where}: resource_name (RECOMMENDED, DESIGN.md lists it)`);
  // A5: omit parameters without a value.
  for (const [k, v] of Object.entries(json)) {
    assert.ok(v !== null && !(Array.isArray(v) && v.length === 0), `${where}: ${k} is an empty placeholder`);
  }
  assert.match(res.headers.get('cache-control') || '', /max-age=\d+/i, `${where}: Cache-Control max-age`);
  assert.equal(res.headers.get('access-control-allow-origin'), '*', `${where}: CORS Access-Control-Allow-Origin`);
}

test('path form /.well-known/oauth-protected-resource/mcp: resource = MCP URL', { timeout: 15_000 }, async () => {
  const r = await getPrm('/.well-known/oauth-protected-resource/mcp');
  checkCommon(r, 'path form');
  assert.equal(r.json.resource, s.bridge.mcpUrl);
});

test('root form /.well-known/oauth-protected-resource: resource = base URL (RFC 9728 §3.3)', { timeout: 15_000 }, async () => {
  const r = await getPrm('/.well-known/oauth-protected-resource');
  checkCommon(r, 'root form');
  assert.equal(r.json.resource, s.bridge.baseUrl);
});

test('PRM is public: a browser Origin gets it without a token', { timeout: 15_000 }, async () => {
  const r = await getPrm('/.well-known/oauth-protected-resource/mcp', { origin: 'http://localhost:6274' });
  checkCommon(r, 'with Origin');
});

test('CORS preflight on both PRM URLs succeeds without a token', { timeout: 15_000 }, async () => {
  for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
    const res = await fetch(`${s.bridge.baseUrl}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:6274',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'mcp-protocol-version',
      },
      signal: AbortSignal.timeout(10_000),
    });
    await res.body?.cancel();
    assert.ok(res.status === 200 || res.status === 204, `${path}: OPTIONS status ${res.status}`);
    const acao = res.headers.get('access-control-allow-origin');
    assert.ok(acao === '*' || acao === 'http://localhost:6274', `${path}: Access-Control-Allow-Origin = ${acao}`);
    const methods = res.headers.get('access-control-allow-methods') || '';
    assert.match(methods, /\bGET\b|\*/i, `${path}: Access-Control-Allow-Methods = ${methods}`);
  }
});

test('every authorization server listed serves RFC 8414 metadata with that exact issuer (A12)', { timeout: 15_000 }, async () => {
  const { json } = await getPrm('/.well-known/oauth-protected-resource/mcp');
  for (const iss of json.authorization_servers) {
    const u = new URL(iss);
    const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
    const md = await (await fetch(`${u.origin}/.well-known/oauth-authorization-server${path}`)).json();
    assert.equal(md.issuer, iss);
  }
});
