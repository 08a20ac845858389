// MCP_STATEFUL=true: sessions (Mcp-Session-Id, GET stream) and their binding to
// the token's subject (DESIGN.md auth §10, SPEC-CHECKLIST B12).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { startStack } from '../lib/bridge.js';
import { CLIENTS, SENTINELX_SCOPES } from '../lib/idp.js';
import { postMcp, toolCallBody, initializeBody } from '../lib/http.js';

let s;
let client;
const issued = new Set();
before(async () => { s = await startStack({ bridgeEnv: { MCP_STATEFUL: 'true' } }); }, { timeout: 300_000 });
after(async () => { await client?.close().catch(() => {}); await s?.stop(); });

async function token(clientId) {
  const t = await s.idp.getToken({ clientId, resource: s.bridge.mcpUrl });
  issued.add(t);
  return t;
}

/** initialize + notifications/initialized with `tok` (or none); returns the session id. */
async function openSession(tok) {
  const r = await postMcp(s.bridge.mcpUrl, initializeBody('init'), { token: tok });
  assert.equal(r.status, 200, r.text);
  const sid = r.headers.get('mcp-session-id');
  assert.ok(sid, 'stateful initialize returns Mcp-Session-Id');
  const n = await postMcp(s.bridge.mcpUrl, { jsonrpc: '2.0', method: 'notifications/initialized' }, { token: tok, headers: { 'mcp-session-id': sid } });
  assert.equal(n.status, 202, n.text);
  return sid;
}

test('SDK client with OAuth: session id issued, sentinel_state works', { timeout: 30_000 }, async () => {
  const authProvider = new ClientCredentialsProvider({
    clientId: CLIENTS.all.clientId,
    clientSecret: s.idp.secretOf(CLIENTS.all.clientId),
    scope: SENTINELX_SCOPES.join(' '),
    expectedIssuer: s.idp.issuer,
  });
  client = new Client({ name: 'sentinelx-e2e-stateful', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(s.bridge.mcpUrl), { authProvider });
  await client.connect(transport, { timeout: 10_000 });
  assert.ok(transport.sessionId, 'session id');
  const r = await client.callTool({ name: 'sentinel_state', arguments: {} }, undefined, { timeout: 15_000 });
  issued.add(authProvider.tokens()?.access_token);
  assert.ok(!r.isError, JSON.stringify(r));
  assert.equal(typeof r.structuredContent?.total_executions, 'number', JSON.stringify(r));
});

test('a session opened by subject A is not usable by subject B', { timeout: 20_000 }, async () => {
  const a = await token(CLIENTS.all.clientId);
  const b = await token(CLIENTS.stateOnly.clientId);
  const sid = await openSession(a);
  const ok = await postMcp(s.bridge.mcpUrl, toolCallBody(1, 'sentinel_state'), { token: a, headers: { 'mcp-session-id': sid } });
  assert.equal(ok.status, 200, `A on A's session: ${ok.text}`);
  const stolen = await postMcp(s.bridge.mcpUrl, toolCallBody(2, 'sentinel_state'), { token: b, headers: { 'mcp-session-id': sid } });
  assert.ok(stolen.status >= 400, `B on A's session must fail, got ${stolen.status}: ${stolen.text.slice(0, 300)}`);
  assert.ok(!stolen.messages.some((m) => m?.result), 'no result for B');
  const anon = await postMcp(s.bridge.mcpUrl, toolCallBody(3, 'ping'), { headers: { 'mcp-session-id': sid } });
  assert.ok(anon.status >= 400 && !anon.messages.some((m) => m?.result),
    `anonymous request on A's session must fail, got ${anon.status}: ${anon.text.slice(0, 300)}`);
});

test('GET /mcp (SSE stream) with a token and session → 200 text/event-stream; without a token → 401', { timeout: 20_000 }, async () => {
  const a = await token(CLIENTS.all.clientId);
  const sid = await openSession(a);
  const noTok = await fetch(s.bridge.mcpUrl, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid }, signal: AbortSignal.timeout(5000) });
  await noTok.body?.cancel();
  assert.equal(noTok.status, 401);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5000);
  try {
    const g = await fetch(s.bridge.mcpUrl, { headers: { accept: 'text/event-stream', authorization: `Bearer ${a}`, 'mcp-session-id': sid }, signal: ac.signal });
    assert.equal(g.status, 200);
    assert.match(g.headers.get('content-type') || '', /text\/event-stream/);
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
});

test('DELETE /mcp: needs a token; B cannot end A\'s session; A can', { timeout: 20_000 }, async () => {
  const a = await token(CLIENTS.all.clientId);
  const b = await token(CLIENTS.stateOnly.clientId);
  const sid = await openSession(a);
  const del = (tok) => fetch(s.bridge.mcpUrl, {
    method: 'DELETE',
    headers: { 'mcp-session-id': sid, ...(tok ? { authorization: `Bearer ${tok}` } : {}) },
    signal: AbortSignal.timeout(5000),
  }).then(async (r) => { await r.body?.cancel(); return r.status; });
  assert.equal(await del(undefined), 401, 'DELETE without a token');
  assert.ok((await del(b)) >= 400, 'DELETE by another subject fails');
  const still = await postMcp(s.bridge.mcpUrl, toolCallBody(1, 'sentinel_state'), { token: a, headers: { 'mcp-session-id': sid } });
  assert.equal(still.status, 200, `A's session survives B's DELETE: ${still.text.slice(0, 200)}`);
  const st = await del(a);
  assert.ok(st >= 200 && st < 300, `DELETE by the owner: ${st}`);
  const gone = await postMcp(s.bridge.mcpUrl, toolCallBody(2, 'sentinel_state'), { token: a, headers: { 'mcp-session-id': sid } });
  assert.equal(gone.status, 404, `deleted session → 404: ${gone.text.slice(0, 200)}`);
});

test('no token in the logs', { timeout: 10_000 }, async () => {
  const logs = s.bridge.logs();
  issued.delete(undefined);
  for (const t of issued) assert.ok(!logs.includes(t), `token ${t.slice(0, 12)}… in the bridge logs`);
});
