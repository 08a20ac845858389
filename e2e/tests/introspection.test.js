// Opaque access tokens verified by RFC 7662 introspection (DESIGN.md auth §8):
// the IdP issues opaque resource-bound tokens, the bridge has client
// credentials and discovers the introspection endpoint.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/bridge.js';
import { CLIENTS } from '../lib/idp.js';
import { postMcp, toolCallBody, parseChallenge } from '../lib/http.js';

let s;
const issued = new Set();
before(async () => {
  s = await startStack({
    idp: { accessTokenFormat: 'opaque' },
    bridgeEnv: (idp) => ({ OIDC_CLIENT_ID: CLIENTS.all.clientId, OIDC_CLIENT_SECRET: idp.secretOf(CLIENTS.all.clientId) }),
  });
}, { timeout: 300_000 });
after(async () => { await s?.stop(); });

async function opaque(clientId = CLIENTS.all.clientId, resource = s.bridge.mcpUrl) {
  const t = await s.idp.getToken({ clientId, resource });
  assert.equal(t.split('.').length, 1, 'the IdP issued an opaque token');
  issued.add(t);
  return t;
}

function challenge(r) {
  return parseChallenge(r.headers.get('www-authenticate'));
}

test('an active opaque token for the MCP URL is accepted: sentinel_state', { timeout: 20_000 }, async () => {
  const r = await postMcp(s.bridge.mcpUrl, toolCallBody(1, 'sentinel_state'), { token: await opaque() });
  assert.equal(r.status, 200, r.text);
  const msg = r.messages.find((m) => m.id === 1);
  assert.ok(msg?.result && !msg.result.isError, r.text);
  assert.equal(typeof msg.result.structuredContent?.total_executions, 'number', r.text);
});

test('introspected scope is enforced: state-only opaque token → 403 on sentinel_exec', { timeout: 20_000 }, async () => {
  const r = await postMcp(s.bridge.mcpUrl, toolCallBody(2, 'sentinel_exec', { cmd: 'uptime' }), { token: await opaque(CLIENTS.stateOnly.clientId) });
  assert.equal(r.status, 403, r.text);
  assert.equal(challenge(r)?.params.error, 'insufficient_scope');
  assert.equal(challenge(r)?.params.scope, 'sentinelx:state sentinelx:exec', '2025-11-25: held + needed');
  assert.equal(r.json?.error?.message, 'Missing required scope: sentinelx:exec');
});

test('introspected audience is checked: opaque token for another resource → 401 invalid_token', { timeout: 20_000 }, async () => {
  const r = await postMcp(s.bridge.mcpUrl, toolCallBody(3, 'sentinel_state'), { token: await opaque(CLIENTS.all.clientId, 'http://127.0.0.1:1/other-mcp') });
  assert.equal(r.status, 401, r.text);
  assert.equal(challenge(r)?.params.error, 'invalid_token');
  assert.equal(r.json?.error?.message, 'Invalid access token');
});

test('a token revoked before first use → 401 invalid_token (inactive)', { timeout: 20_000 }, async () => {
  const t = await opaque();
  await s.idp.revoke(t);
  const r = await postMcp(s.bridge.mcpUrl, toolCallBody(4, 'sentinel_state'), { token: t });
  assert.equal(r.status, 401, r.text);
  assert.equal(challenge(r)?.params.error, 'invalid_token');
});

test('an unknown opaque token → 401 invalid_token', { timeout: 20_000 }, async () => {
  const t = 'opaque' + Math.random().toString(36).slice(2) + 'x'.repeat(20);
  issued.add(t);
  const r = await postMcp(s.bridge.mcpUrl, toolCallBody(5, 'sentinel_state'), { token: t });
  assert.equal(r.status, 401, r.text);
  assert.equal(challenge(r)?.params.error, 'invalid_token');
});

test('no opaque token and not the introspection client secret in the logs', { timeout: 10_000 }, async () => {
  const logs = s.bridge.logs();
  for (const t of issued) assert.ok(!logs.includes(t), `token ${t.slice(0, 8)}… in the bridge logs`);
  assert.ok(!logs.includes(s.idp.secretOf(CLIENTS.all.clientId)), 'OIDC_CLIENT_SECRET in the bridge logs');
});
