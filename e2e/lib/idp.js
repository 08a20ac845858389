// A real OAuth 2.1 / OpenID Connect authorization server (oidc-provider) on
// 127.0.0.1, for the bridge to trust and for the MCP client to get tokens from.
//
//   const idp = await startIdp();
//   const token = await idp.getToken({ clientId: 'e2e-all', resource: mcpUrl });
//   await idp.stop();
//
// Access tokens are RFC 9068 JWTs (typ at+jwt, RS256, a key generated at start)
// whose `aud` is the RFC 8707 `resource` the client asked for.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

export const SENTINELX_SCOPES = [
  'sentinelx:state',
  'sentinelx:exec',
  'sentinelx:service',
  'sentinelx:restart',
  'sentinelx:edit',
  'sentinelx:upload',
  'sentinelx:script',
  'sentinelx:capabilities',
];

// Pre-registered confidential clients (client_secret_basic / _post).
// `groups`, when set, becomes a `groups` claim in the client's access tokens
// (for POLICY_FILE rules on groups); clients without it get no such claim.
export const CLIENTS = {
  all: { clientId: 'e2e-all', scope: SENTINELX_SCOPES.join(' ') },
  stateOnly: { clientId: 'e2e-state-only', scope: 'sentinelx:state' },
  ops: { clientId: 'e2e-ops', scope: SENTINELX_SCOPES.join(' '), groups: ['ops'] },
  auditor: { clientId: 'e2e-auditor', scope: SENTINELX_SCOPES.join(' '), groups: ['auditor'] },
};

/**
 * Starts oidc-provider on a free loopback port.
 * @param {object} [opts]
 * @param {number} [opts.accessTokenTTL] seconds (default 600)
 * @param {string} [opts.name] label used in error messages
 * @param {'jwt'|'opaque'} [opts.accessTokenFormat] format of resource-bound access tokens (default 'jwt');
 *   'opaque' tokens carry their `aud` in the introspection response only
 * @param {object} [opts.signingJwk] private JWK to sign with (default: a new RS256 key);
 *   pass another IdP's `signingJwk` to get tokens that differ from its own only by `iss`
 */
export async function startIdp(opts = {}) {
  const accessTokenTTL = opts.accessTokenTTL ?? 600;
  const secrets = Object.fromEntries(
    Object.values(CLIENTS).map((c) => [c.clientId, crypto.randomBytes(24).toString('base64url')]),
  );

  // Listen first so the issuer can carry the real port (no free-port race).
  let handler = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = http.createServer((req, res) => handler(req, res));
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  let jwk = opts.signingJwk;
  if (!jwk) {
    const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
    jwk = await jose.exportJWK(privateKey);
    jwk.kid = `e2e-${crypto.randomBytes(6).toString('hex')}`;
    jwk.alg = 'RS256';
    jwk.use = 'sig';
  }

  const provider = new Provider(issuer, {
    clients: Object.values(CLIENTS).map((c) => ({
      client_id: c.clientId,
      client_secret: secrets[c.clientId],
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: c.scope,
    })),
    jwks: { keys: [jwk] },
    scopes: ['openid', 'offline_access', ...SENTINELX_SCOPES],
    clientBasedCORS: () => true,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true },
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No `resource` → no resource-bound (JWT) token; the bridge must not see one.
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        // Any absolute http(s) resource is a resource server whose tokens are
        // JWTs for exactly that audience with the sentinelx scopes.
        getResourceServerInfo: (_ctx, resourceIndicator) => ({
          audience: resourceIndicator,
          scope: SENTINELX_SCOPES.join(' '),
          accessTokenTTL,
          accessTokenFormat: opts.accessTokenFormat ?? 'jwt',
          ...((opts.accessTokenFormat ?? 'jwt') === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        }),
      },
    },
    ttl: {
      AccessToken: () => accessTokenTTL,
      ClientCredentials: () => accessTokenTTL,
      Grant: 3600,
      Session: 3600,
      Interaction: 600,
      IdToken: 600,
      AuthorizationCode: 60,
      RefreshToken: 3600,
    },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    extraTokenClaims: async (_ctx, token) => {
      const groups = Object.values(CLIENTS).find((c) => c.clientId === token.clientId)?.groups;
      return groups ? { groups } : undefined;
    },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  });
  // Quieter: oidc-provider logs config warnings through `console.warn` only once.
  provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`[idp${opts.name ? ' ' + opts.name : ''}] server_error: ${err?.stack || err}\n`);
  });

  const callback = provider.callback();
  handler = (req, res) => {
    // RFC 8414 metadata at the path MCP clients try first; same document as
    // OpenID discovery (oidc-provider only serves the latter).
    if (req.url === '/.well-known/oauth-authorization-server' || req.url?.startsWith('/.well-known/oauth-authorization-server?')) {
      req.url = req.url.replace('/.well-known/oauth-authorization-server', '/.well-known/openid-configuration');
    }
    callback(req, res);
  };

  async function metadata() {
    const r = await fetch(`${issuer}/.well-known/openid-configuration`);
    if (!r.ok) throw new Error(`IdP discovery: HTTP ${r.status}`);
    return r.json();
  }

  /**
   * client_credentials token request. Returns the access token string.
   * @param {{clientId?: string, scope?: string, resource?: string|string[]}} p
   */
  async function getTokenResponse({ clientId = CLIENTS.all.clientId, scope, resource } = {}) {
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    const client = Object.values(CLIENTS).find((c) => c.clientId === clientId);
    if (!client) throw new Error(`unknown e2e client ${clientId}`);
    body.set('scope', scope ?? client.scope);
    for (const r of [resource].flat().filter(Boolean)) body.append('resource', r);
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secrets[clientId])}`).toString('base64');
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`IdP token endpoint: HTTP ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  async function getToken(p) {
    return (await getTokenResponse(p)).access_token;
  }

  async function introspect(token, clientId = CLIENTS.all.clientId) {
    const basic = Buffer.from(`${clientId}:${secrets[clientId]}`).toString('base64');
    const res = await fetch(`${issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    return res.json();
  }

  async function revoke(token, clientId = CLIENTS.all.clientId) {
    const basic = Buffer.from(`${clientId}:${secrets[clientId]}`).toString('base64');
    const res = await fetch(`${issuer}/token/revocation`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`IdP revocation: HTTP ${res.status}`);
  }

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    server.close();
    for (const s of sockets) s.destroy();
  }

  return {
    issuer,
    port,
    kid: jwk.kid,
    signingJwk: jwk,
    provider,
    secretOf: (clientId) => secrets[clientId],
    metadata,
    getToken,
    getTokenResponse,
    introspect,
    revoke,
    stop,
  };
}
