// The bridge as an OAuth 2.1 protected resource, seen by the official MCP
// TypeScript client and by raw HTTP (DESIGN.md "Authentication and
// authorization"; SPEC-CHECKLIST §A, §B).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { startStack } from '../lib/bridge.js';
import { startIdp, CLIENTS, SENTINELX_SCOPES } from '../lib/idp.js';
import { postMcp, toolCallBody, initializeBody, parseChallenge, rawRequest, decodeJwt } from '../lib/http.js';

const SEED_TOOLS = [
  'ping', 'sentinel_state', 'sentinel_exec', 'sentinel_service', 'sentinel_restart',
  'sentinel_edit', 'sentinel_edit_upload_init', 'sentinel_edit_upload_file', 'sentinel_edit_upload_complete',
  'sentinel_upload_file', 'sentinel_upload_init', 'sentinel_upload_chunk', 'sentinel_upload_complete',
  'sentinel_script_run', 'sentinel_capabilities', 'sentinel_help',
];

let s;
const issuedTokens = new Set(); // every token handed to the bridge; none may show up in its logs
const clients = [];

before(async () => { s = await startStack(); }, { timeout: 300_000 });
after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await s?.stop();
});

async function token(clientId = CLIENTS.all.clientId, resource = s.bridge.mcpUrl, idp = s.idp) {
  const t = await idp.getToken({ clientId, resource });
  issuedTokens.add(t);
  return t;
}

function prmUrl() {
  return `${s.bridge.baseUrl}/.well-known/oauth-protected-resource/mcp`;
}

async function connect({ authProvider, fetch: fetchFn } = {}) {
  const client = new Client({ name: 'sentinelx-e2e', version: '0.0.0' });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  const transport = new StreamableHTTPClientTransport(new URL(s.bridge.mcpUrl), { authProvider, fetch: fetchFn });
  clients.push(client);
  await client.connect(transport, { timeout: 10_000 });
  return { client, transport, errors };
}

/** The tool result's parsed text content, its structuredContent, and `_meta` wherever the bridge put it. */
function unpack(result) {
  assert.ok(!result.isError, `tool returned isError: ${JSON.stringify(result).slice(0, 500)}`);
  const text = result.content?.find((c) => c.type === 'text')?.text;
  assert.equal(typeof text, 'string', `text content present: ${JSON.stringify(result).slice(0, 300)}`);
  const fromText = JSON.parse(text);
  return { fromText, structured: result.structuredContent, meta: result._meta, result };
}

function assertBridgeMeta(u, subject) {
  // DESIGN.md: `_meta {proxy, ms, subject, preferred_username}` "as the old bridge did" — the
  // old bridge put it inside the result object; the protocol-level result._meta is also accepted.
  const candidates = [u.structured?._meta, u.fromText?._meta, u.meta].filter(Boolean);
  const m = candidates.find((x) => 'proxy' in x);
  assert.ok(m, `_meta with proxy/ms/subject in structuredContent._meta, text._meta or result._meta; got ${JSON.stringify(candidates)}`);
  assert.equal(typeof m.proxy, 'string', 'proxy');
  assert.equal(typeof m.ms, 'number', 'ms');
  assert.equal(m.subject, subject, 'subject');
}

function assertJsonRpcError(r, id, message) {
  const body = r.json;
  assert.ok(body && typeof body === 'object', `JSON body, got ${r.headers.get('content-type')}: ${r.text.slice(0, 300)}`);
  assert.equal(body.jsonrpc, '2.0', `jsonrpc: ${r.text}`);
  assert.deepEqual(body.id, id, `id echoes the request's: ${r.text}`);
  assert.ok(body.error && typeof body.error.code === 'number', `error.code: ${r.text}`);
  assert.equal(body.error.message, message, `error.message: ${r.text}`);
  assert.ok(!('result' in body));
}

describe('anonymous (no token)', () => {
  test('SDK client: initialize, tools/list, tools/call ping', { timeout: 30_000 }, async () => {
    const { client } = await connect();
    const v = client.getServerVersion();
    assert.ok(v?.name, 'serverInfo.name');
    const { tools } = await client.listTools(undefined, { timeout: 10_000 });
    const names = tools.map((t) => t.name);
    assert.ok(names.includes('ping'), `tools: ${names}`);
    assert.ok(names.includes('sentinel_state'), `tools: ${names}`);
    const r = await client.callTool({ name: 'ping', arguments: {} }, undefined, { timeout: 10_000 });
    assert.ok(!r.isError, JSON.stringify(r));
    assert.ok(r.content?.length > 0, 'ping has content');
  });

  test('tools/list returns the seed\'s 16 tools, in a deterministic order', { timeout: 30_000 }, async () => {
    const { client } = await connect();
    const a = (await client.listTools(undefined, { timeout: 10_000 })).tools.map((t) => t.name);
    const b = (await client.listTools(undefined, { timeout: 10_000 })).tools.map((t) => t.name);
    assert.deepEqual([...a].sort(), [...SEED_TOOLS].sort());
    assert.deepEqual(a, b);
  });

  test('tool annotations: readOnlyHint for ping/state/capabilities/help, destructiveHint for the rest (DESIGN.md "Tools")', { timeout: 30_000 }, async () => {
    const { client } = await connect();
    const { tools } = await client.listTools(undefined, { timeout: 10_000 });
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    const readOnly = ['ping', 'sentinel_state', 'sentinel_capabilities', 'sentinel_help'];
    for (const name of SEED_TOOLS) {
      const a = byName[name]?.annotations;
      assert.ok(a, `${name}: listed with annotations`);
      if (readOnly.includes(name)) assert.equal(a.readOnlyHint, true, `${name}: readOnlyHint`);
      else assert.equal(a.destructiveHint, true, `${name}: destructiveHint`);
    }
    assert.ok(byName.sentinel_state.outputSchema, 'sentinel_state has an output schema (its shape is known: UPSTREAM.md §4.1)');
  });

  test('SDK client without authProvider: protected tool fails with HTTP 401', { timeout: 30_000 }, async () => {
    const { client } = await connect();
    await assert.rejects(
      client.callTool({ name: 'sentinel_state', arguments: {} }, undefined, { timeout: 10_000 }),
      (e) => e.code === 401 || /401|Unauthorized/i.test(String(e)),
    );
  });

  test('raw POST tools/call sentinel_state → 401, challenge with resource_metadata and scope, JSON-RPC error body', { timeout: 15_000 }, async () => {
    const r = await postMcp(s.bridge.mcpUrl, toolCallBody('req-401', 'sentinel_state'));
    assert.equal(r.status, 401, r.text);
    const www = r.headers.get('www-authenticate');
    const c = parseChallenge(www);
    assert.ok(c, `WWW-Authenticate present: ${www}`);
    assert.equal(c.scheme, 'Bearer', www);
    assert.equal(c.params.resource_metadata, prmUrl(), www);
    assert.equal(c.params.scope, 'sentinelx:state', www);
    assert.ok(!('error' in c.params), `B4: no error= without credentials: ${www}`);
    assert.deepEqual(Object.keys(c.params).sort(), ['resource_metadata', 'scope'], www);
    assert.equal(www, `Bearer resource_metadata="${prmUrl()}", scope="sentinelx:state"`);
    assertJsonRpcError(r, 'req-401', 'Missing Authorization header');
  });

  test('the challenge\'s resource_metadata resolves to the PRM whose resource is the MCP URL (B2, B3)', { timeout: 15_000 }, async () => {
    const r = await postMcp(s.bridge.mcpUrl, toolCallBody(5, 'sentinel_exec', { cmd: 'uptime' }));
    assert.equal(r.status, 401, r.text);
    const c = parseChallenge(r.headers.get('www-authenticate'));
    assert.equal(c.params.scope, 'sentinelx:exec');
    const prm = await (await fetch(c.params.resource_metadata)).json();
    assert.equal(prm.resource, s.bridge.mcpUrl);
    assert.deepEqual(prm.authorization_servers, [s.idp.issuer]);
  });

  test('DELETE /mcp without a token → 401 (B12); stateless GET → 405 Allow: POST, as bare go-sdk (stateful GET: stateful.test.js)', { timeout: 15_000 }, async () => {
    const g = await fetch(s.bridge.mcpUrl, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(5000) });
    await g.body?.cancel();
    assert.equal(g.status, 405, 'GET: no stream in stateless mode');
    assert.equal(g.headers.get('allow'), 'POST');
    assert.equal(g.headers.get('www-authenticate'), null, 'no challenge: nothing to sign in for');
    const d = await fetch(s.bridge.mcpUrl, { method: 'DELETE', headers: { 'mcp-session-id': 'x' }, signal: AbortSignal.timeout(5000) });
    await d.body?.cancel();
    assert.equal(d.status, 401, 'DELETE');
  });

  test('CORS preflight on /mcp succeeds without a token and exposes WWW-Authenticate, Mcp-Session-Id', { timeout: 15_000 }, async () => {
    const origin = s.bridge.baseUrl; // the server's own origin is always allowed
    const res = await fetch(s.bridge.mcpUrl, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, mcp-protocol-version, mcp-session-id',
      },
      signal: AbortSignal.timeout(5000),
    });
    await res.body?.cancel();
    assert.ok(res.status === 200 || res.status === 204, `status ${res.status}`);
    assert.ok(res.headers.get('access-control-allow-origin'), 'Access-Control-Allow-Origin');
    const post = await postMcp(s.bridge.mcpUrl, toolCallBody(1, 'sentinel_state'), { headers: { origin } });
    assert.equal(post.status, 401);
    const expose = (post.headers.get('access-control-expose-headers') || '').toLowerCase();
    assert.ok(expose.includes('www-authenticate'), `expose: ${expose}`);
    assert.ok(expose.includes('mcp-session-id'), `expose: ${expose}`);
  });
});

describe('SDK OAuth flow (client_credentials, from nothing but the MCP URL)', () => {
  test('401 → PRM → AS metadata → token with resource=MCP URL → sentinel_state succeeds', { timeout: 30_000 }, async () => {
    const log = [];
    const recordingFetch = async (input, init = {}) => {
      const url = String(input instanceof Request ? input.url : input);
      const method = init.method || (input instanceof Request ? input.method : 'GET');
      const entry = { method, url, body: typeof init.body === 'string' ? init.body : init.body instanceof URLSearchParams ? init.body.toString() : undefined };
      const headers = new Headers(init.headers);
      entry.auth = headers.get('authorization') || undefined;
      const res = await fetch(input, init);
      entry.status = res.status;
      if (url.endsWith('/token') && res.ok) {
        const clone = res.clone();
        const j = await clone.json().catch(() => null);
        if (j?.access_token) { issuedTokens.add(j.access_token); entry.tokenClaims = decodeJwt(j.access_token).payload; }
      }
      log.push(entry);
      return res;
    };
    const authProvider = new ClientCredentialsProvider({
      clientId: CLIENTS.all.clientId,
      clientSecret: s.idp.secretOf(CLIENTS.all.clientId),
      scope: SENTINELX_SCOPES.join(' '),
      expectedIssuer: s.idp.issuer,
    });
    const { client } = await connect({ authProvider, fetch: recordingFetch });
    const r = await client.callTool({ name: 'sentinel_state', arguments: {} }, undefined, { timeout: 15_000 });
    const u = unpack(r);

    const trace = log.map((e) => `${e.method} ${e.url} → ${e.status}`).join('\n');
    const first401 = log.findIndex((e) => e.url === s.bridge.mcpUrl && e.status === 401);
    assert.ok(first401 >= 0, `a 401 from the MCP endpoint:\n${trace}`);
    const prm = log.findIndex((e, i) => i > first401 && e.url.startsWith(`${s.bridge.baseUrl}/.well-known/oauth-protected-resource`) && e.status === 200);
    assert.ok(prm > first401, `PRM fetched after the 401:\n${trace}`);
    const asMeta = log.findIndex((e, i) => i > prm && e.url.startsWith(`${s.idp.issuer}/.well-known/`) && e.status === 200);
    assert.ok(asMeta > prm, `AS metadata fetched after the PRM:\n${trace}`);
    const tok = log.findIndex((e, i) => i > asMeta && e.method === 'POST' && e.url === `${s.idp.issuer}/token`);
    assert.ok(tok > asMeta, `token request after AS metadata:\n${trace}`);
    const form = new URLSearchParams(log[tok].body);
    assert.equal(form.get('grant_type'), 'client_credentials');
    assert.equal(form.get('resource'), s.bridge.mcpUrl, 'RFC 8707 resource = MCP URL');
    assert.equal(log[tok].status, 200, `token endpoint answered ${log[tok].status}`);
    assert.equal(log[tok].tokenClaims.aud, s.bridge.mcpUrl);
    const authed = log.findIndex((e, i) => i > tok && e.url === s.bridge.mcpUrl && e.method === 'POST' && e.auth?.startsWith('Bearer ') && e.status === 200);
    assert.ok(authed > tok, `retried with the bearer token and got 200:\n${trace}`);

    for (const k of ['total_executions', 'blocked_count', 'error_count', 'uptime']) {
      assert.ok(k in u.fromText, `text content has ${k}: ${JSON.stringify(u.fromText)}`);
      assert.ok(u.structured && k in u.structured, `structuredContent has ${k}: ${JSON.stringify(u.structured)}`);
    }
    assert.equal(typeof u.structured.total_executions, 'number');
    assert.equal(u.structured.total_executions, u.fromText.total_executions);
    assertBridgeMeta(u, CLIENTS.all.clientId);
  });

  test('same client runs sentinel_exec uptime on the agent', { timeout: 30_000 }, async () => {
    const authProvider = new ClientCredentialsProvider({
      clientId: CLIENTS.all.clientId,
      clientSecret: s.idp.secretOf(CLIENTS.all.clientId),
      scope: SENTINELX_SCOPES.join(' '),
      expectedIssuer: s.idp.issuer,
    });
    const { client } = await connect({ authProvider });
    const u = unpack(await client.callTool({ name: 'sentinel_exec', arguments: { cmd: 'uptime' } }, undefined, { timeout: 20_000 }));
    issuedTokens.add(authProvider.tokens()?.access_token);
    assert.equal(typeof u.fromText.output, 'string', JSON.stringify(u.fromText));
    assert.match(u.fromText.output, /load average|up /, u.fromText.output);
    assert.equal(u.fromText.returncode, 0);
    assertBridgeMeta(u, CLIENTS.all.clientId);
  });
});

describe('scope gate (step-up)', () => {
  test('sentinel_exec with a sentinelx:state-only token → 403 insufficient_scope; nothing reaches the agent', { timeout: 30_000 }, async () => {
    const t = await token(CLIENTS.stateOnly.clientId);
    const before = await postMcp(s.bridge.mcpUrl, toolCallBody(1, 'sentinel_state'), { token: t });
    assert.equal(before.status, 200, before.text);
    const n0 = before.messages.find((m) => m.id === 1)?.result?.structuredContent?.total_executions;

    const r = await postMcp(s.bridge.mcpUrl, toolCallBody(42, 'sentinel_exec', { cmd: 'uptime' }), { token: t });
    assert.equal(r.status, 403, r.text);
    const www = r.headers.get('www-authenticate');
    const c = parseChallenge(www);
    assert.equal(c?.scheme, 'Bearer', www);
    assert.equal(c.params.error, 'insufficient_scope', www);
    // 2025-11-25 (B9): the scopes the token holds that this server knows, plus the missing one.
    assert.equal(c.params.scope, 'sentinelx:state sentinelx:exec', www);
    assert.equal(c.params.resource_metadata, prmUrl(), `B8: resource_metadata in the 403: ${www}`);
    for (const [k, n] of Object.entries(c.count)) assert.equal(n, 1, `B10: ${k} appears once: ${www}`);
    assertJsonRpcError(r, 42, 'Missing required scope: sentinelx:exec');

    // 2026-07-28: accumulating is the client's job; only the missing scope is named.
    const r26 = await postMcp(s.bridge.mcpUrl, toolCallBody(43, 'sentinel_exec', { cmd: 'uptime' }), { token: t, protocolVersion: '2026-07-28' });
    assert.equal(r26.status, 403, r26.text);
    assert.equal(parseChallenge(r26.headers.get('www-authenticate'))?.params.scope, 'sentinelx:exec', r26.headers.get('www-authenticate'));
    assertJsonRpcError(r26, 43, 'Missing required scope: sentinelx:exec');

    const after = await postMcp(s.bridge.mcpUrl, toolCallBody(2, 'sentinel_state'), { token: t });
    const n1 = after.messages.find((m) => m.id === 2)?.result?.structuredContent?.total_executions;
    assert.equal(typeof n0, 'number', `state before: ${before.text.slice(0, 300)}`);
    assert.equal(n1, n0, 'agent total_executions unchanged by the refused call');
  });

  test('the SDK client with a state-only client surfaces the 403 (no loop)', { timeout: 30_000 }, async () => {
    const authProvider = new ClientCredentialsProvider({
      clientId: CLIENTS.stateOnly.clientId,
      clientSecret: s.idp.secretOf(CLIENTS.stateOnly.clientId),
      scope: 'sentinelx:state',
      expectedIssuer: s.idp.issuer,
    });
    const { client } = await connect({ authProvider });
    const st = unpack(await client.callTool({ name: 'sentinel_state', arguments: {} }, undefined, { timeout: 15_000 }));
    issuedTokens.add(authProvider.tokens()?.access_token);
    assertBridgeMeta(st, CLIENTS.stateOnly.clientId);
    await assert.rejects(
      client.callTool({ name: 'sentinel_exec', arguments: { cmd: 'uptime' } }, undefined, { timeout: 15_000 }),
      (e) => e.code === 403 || /403/.test(String(e)),
    );
  });
});

describe('invalid tokens → 401 invalid_token', () => {
  let other; // a second IdP, unrelated
  let twin; // a second IdP with the trusted IdP's signing key: only `iss` differs
  before(async () => {
    other = await startIdp({ name: 'other' });
    twin = await startIdp({ name: 'twin', signingJwk: s.idp.signingJwk });
  }, { timeout: 30_000 });
  after(async () => { await other?.stop(); await twin?.stop(); });

  async function expectInvalid(t, label, body = toolCallBody(`bad-${label}`, 'sentinel_state')) {
    issuedTokens.add(t);
    const r = await postMcp(s.bridge.mcpUrl, body, { token: t });
    assert.equal(r.status, 401, `${label}: status (${r.text.slice(0, 300)})`);
    const www = r.headers.get('www-authenticate');
    const c = parseChallenge(www);
    assert.equal(c?.scheme, 'Bearer', `${label}: ${www}`);
    assert.equal(c.params.error, 'invalid_token', `${label}: ${www}`);
    assert.equal(c.params.resource_metadata, prmUrl(), `${label}: ${www}`);
    assertJsonRpcError(r, body.id, 'Invalid access token');
  }

  test('garbage', { timeout: 15_000 }, async () => {
    await expectInvalid('not-a-token-' + Math.random().toString(36).slice(2), 'garbage');
    await expectInvalid('x.y.z', 'x.y.z');
  });

  test('a valid token with a flipped signature byte', { timeout: 15_000 }, async () => {
    const t = await token();
    const [h, p, sig] = t.split('.');
    const b = Buffer.from(sig, 'base64url');
    b[10] ^= 0x01;
    await expectInvalid(`${h}.${p}.${b.toString('base64url')}`, 'bad-signature');
  });

  test('validly signed by the trusted IdP but for another resource (aud)', { timeout: 15_000 }, async () => {
    await expectInvalid(await token(CLIENTS.all.clientId, 'http://127.0.0.1:1/other-mcp'), 'other-aud');
  });

  test('validly signed for the base URL while OIDC_EXPECTED_AUDIENCE is the MCP URL only', { timeout: 15_000 }, async () => {
    await expectInvalid(await token(CLIENTS.all.clientId, s.bridge.baseUrl), 'base-url-aud');
  });

  test('right audience, but from another IdP with its own keys', { timeout: 15_000 }, async () => {
    await expectInvalid(await token(CLIENTS.all.clientId, s.bridge.mcpUrl, other), 'other-idp');
  });

  test('right audience, trusted key and kid, but another issuer (C4)', { timeout: 15_000 }, async () => {
    const t = await token(CLIENTS.all.clientId, s.bridge.mcpUrl, twin);
    const { header, payload } = decodeJwt(t);
    assert.equal(header.kid, s.idp.kid);
    assert.equal(payload.iss, twin.issuer);
    await expectInvalid(t, 'other-issuer');
  });

  test('an opaque token with no introspection configured', { timeout: 15_000 }, async () => {
    await expectInvalid(await s.idp.getToken({ clientId: CLIENTS.all.clientId }), 'opaque');
  });

  test('a sent token is verified whatever the method: initialize with a bad token → 401', { timeout: 15_000 }, async () => {
    await expectInvalid('garbage-on-initialize', 'initialize', initializeBody('init-bad'));
  });
});

describe('malformed credentials', () => {
  test('two Authorization headers → 400 invalid_request (B6)', { timeout: 15_000 }, async () => {
    const t = await token();
    const body = JSON.stringify(toolCallBody(1, 'sentinel_state'));
    const r = await rawRequest(s.bridge.port, [
      'POST /mcp HTTP/1.1',
      `Host: 127.0.0.1:${s.bridge.port}`,
      'Content-Type: application/json',
      'Accept: application/json, text/event-stream',
      `Authorization: Bearer ${t}`,
      `Authorization: Bearer ${t}`,
    ], body);
    assert.equal(r.status, 400, r.body);
    const www = r.headers.find(([k]) => k === 'www-authenticate')?.[1] || '';
    assert.match(www, /error="invalid_request"/, `WWW-Authenticate: ${www}`);
  });

  test('a token in the query string is refused (400 invalid_request), never used', { timeout: 15_000 }, async () => {
    const t = await token();
    const r = await postMcp(`${s.bridge.mcpUrl}?access_token=${encodeURIComponent(t)}`, toolCallBody(1, 'sentinel_state'));
    assert.equal(r.status, 400, r.text);
    assert.match(r.headers.get('www-authenticate') || r.text, /invalid_request/);
  });
});

describe('Host / Origin guard (DESIGN.md auth §11)', () => {
  test('foreign Host → 403; loopback Host accepted', { timeout: 15_000 }, async () => {
    const body = JSON.stringify(initializeBody(1));
    const req = (host, extra = []) => rawRequest(s.bridge.port, [
      'POST /mcp HTTP/1.1',
      `Host: ${host}`,
      'Content-Type: application/json',
      'Accept: application/json, text/event-stream',
      ...extra,
    ], body);
    assert.equal((await req('evil.example.com')).status, 403, 'foreign Host');
    assert.equal((await req(`localhost:${s.bridge.port}`)).status, 200, 'localhost Host');
    assert.equal((await req(`127.0.0.1:${s.bridge.port}`)).status, 200, '127.0.0.1 Host');
  });

  test('foreign browser Origin → 403; the server\'s own origin accepted; Origin: null refused', { timeout: 15_000 }, async () => {
    const evil = await postMcp(s.bridge.mcpUrl, initializeBody(1), { headers: { origin: 'https://evil.example.com' } });
    assert.equal(evil.status, 403, evil.text);
    const own = await postMcp(s.bridge.mcpUrl, initializeBody(2), { headers: { origin: s.bridge.baseUrl } });
    assert.equal(own.status, 200, own.text);
    const nul = await postMcp(s.bridge.mcpUrl, initializeBody(3), { headers: { origin: 'null' } });
    assert.equal(nul.status, 403, nul.text);
  });
});

describe('MCP_AUTH_REQUIRED=true', () => {
  let strict;
  before(async () => {
    strict = await startStack({ bridgeEnv: { MCP_AUTH_REQUIRED: 'true' } });
  }, { timeout: 60_000 });
  after(async () => { await strict?.stop(); });

  test('initialize and ping need a token; with one they work', { timeout: 20_000 }, async () => {
    for (const body of [initializeBody('i'), toolCallBody('p', 'ping')]) {
      const r = await postMcp(strict.bridge.mcpUrl, body);
      assert.equal(r.status, 401, `${body.method}: ${r.text}`);
      const c = parseChallenge(r.headers.get('www-authenticate'));
      assert.equal(c?.params.resource_metadata, `${strict.bridge.baseUrl}/.well-known/oauth-protected-resource/mcp`);
      assert.ok(!('error' in c.params), 'no error= without credentials');
      assertJsonRpcError(r, body.id, 'Missing Authorization header');
    }
    const t = await strict.idp.getToken({ clientId: CLIENTS.stateOnly.clientId, resource: strict.bridge.mcpUrl });
    const ok = await postMcp(strict.bridge.mcpUrl, toolCallBody('p2', 'ping'), { token: t });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.messages.find((m) => m.id === 'p2')?.result, ok.text);
    assert.ok(!strict.bridge.logs().includes(t), 'token in the logs');
  });
});

describe('logs', () => {
  test('no token value ever appears in the bridge\'s logs', { timeout: 15_000 }, async () => {
    // One last authenticated call so the log has seen a success too.
    const t = await token();
    const r = await postMcp(s.bridge.mcpUrl, toolCallBody(1, 'sentinel_state'), { token: t });
    assert.equal(r.status, 200, r.text);
    await new Promise((res) => setTimeout(res, 200));
    const logs = s.bridge.logs();
    assert.ok(logs.length > 0, 'the bridge logged something');
    issuedTokens.delete(undefined);
    assert.ok(issuedTokens.size >= 5, `tokens exercised: ${issuedTokens.size}`);
    for (const tok of issuedTokens) {
      assert.ok(!logs.includes(tok), `token ${tok.slice(0, 12)}… appears in the bridge logs`);
      // A JWT's signature part alone is just as secret.
      const sig = tok.split('.')[2];
      if (sig && sig.length > 20) assert.ok(!logs.includes(sig), `token signature ${sig.slice(0, 12)}… appears in the logs`);
    }
    assert.ok(!logs.includes(s.agentToken), 'SENTINELX_TOKEN appears in the bridge logs');
  });

  test('LOG_FORMAT=json: every log line is a JSON object', { timeout: 15_000 }, async () => {
    const lines = s.bridge.logs().split('\n').filter((l) => l.trim());
    const bad = lines.filter((l) => { try { return typeof JSON.parse(l) !== 'object'; } catch { return true; } });
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} of ${lines.length} lines are not JSON`);
  });
});
