// The test IdP on its own: the tokens the bridge will be handed look like what
// a real RFC 9068 / RFC 8707 authorization server issues.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { startIdp, CLIENTS, SENTINELX_SCOPES } from '../lib/idp.js';

let idp;
const RESOURCE = 'http://127.0.0.1:9/mcp';

before(async () => { idp = await startIdp(); }, { timeout: 30_000 });
after(async () => { await idp?.stop(); });

test('discovery: OIDC and RFC 8414 documents, same issuer', { timeout: 10_000 }, async () => {
  const oidc = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json();
  const r = await fetch(`${idp.issuer}/.well-known/oauth-authorization-server`);
  assert.equal(r.status, 200);
  const oauth = await r.json();
  assert.equal(oidc.issuer, idp.issuer);
  assert.equal(oauth.issuer, idp.issuer);
  assert.ok(oidc.grant_types_supported.includes('client_credentials'));
  assert.ok(oidc.code_challenge_methods_supported.includes('S256'));
  assert.ok(oidc.registration_endpoint, 'dynamic client registration endpoint');
  assert.ok(oidc.introspection_endpoint, 'introspection endpoint');
  for (const s of SENTINELX_SCOPES) assert.ok(oidc.scopes_supported.includes(s), s);
});

test('client_credentials + resource → RS256 at+jwt with aud = resource', { timeout: 10_000 }, async () => {
  const before = Math.floor(Date.now() / 1000);
  const tr = await idp.getTokenResponse({ clientId: CLIENTS.all.clientId, resource: RESOURCE });
  assert.equal(tr.token_type, 'Bearer');
  const header = jose.decodeProtectedHeader(tr.access_token);
  assert.equal(header.alg, 'RS256');
  assert.equal(header.typ, 'at+jwt');
  assert.equal(header.kid, idp.kid);
  const claims = jose.decodeJwt(tr.access_token);
  assert.equal(claims.iss, idp.issuer);
  assert.equal(claims.aud, RESOURCE);
  assert.equal(claims.sub, CLIENTS.all.clientId);
  assert.equal(claims.client_id, CLIENTS.all.clientId);
  assert.deepEqual(claims.scope.split(' ').sort(), [...SENTINELX_SCOPES].sort());
  assert.ok(claims.exp > before && claims.exp <= before + 700, `exp ${claims.exp}`);
  assert.ok(claims.iat >= before - 5);
  assert.ok(claims.jti);

  const md = await idp.metadata();
  const { payload } = await jose.jwtVerify(tr.access_token, jose.createRemoteJWKSet(new URL(md.jwks_uri)), {
    issuer: idp.issuer,
    audience: RESOURCE,
    typ: 'at+jwt',
    algorithms: ['RS256'],
  });
  assert.equal(payload.sub, CLIENTS.all.clientId);
});

test('the state-only client gets sentinelx:state and cannot ask for more', { timeout: 10_000 }, async () => {
  const t = await idp.getToken({ clientId: CLIENTS.stateOnly.clientId, resource: RESOURCE });
  assert.equal(jose.decodeJwt(t).scope, 'sentinelx:state');
  await assert.rejects(
    idp.getToken({ clientId: CLIENTS.stateOnly.clientId, scope: 'sentinelx:exec', resource: RESOURCE }),
    /invalid_scope/,
  );
});

test('without a resource the token is opaque and introspectable', { timeout: 10_000 }, async () => {
  const t = await idp.getToken({ clientId: CLIENTS.all.clientId });
  assert.equal(t.split('.').length, 1, 'opaque token');
  const info = await idp.introspect(t);
  assert.equal(info.active, true);
  assert.equal(info.client_id, CLIENTS.all.clientId);
});

test('dynamic client registration is open', { timeout: 10_000 }, async () => {
  const md = await idp.metadata();
  const r = await fetch(md.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: ['http://127.0.0.1:1/callback'],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }),
  });
  assert.equal(r.status, 201);
  assert.ok((await r.json()).client_id);
});
