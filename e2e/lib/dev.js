// Helpers for `sentinelx-mcp dev` (started by startDev() in bridge.js):
// the rest of its banner, and a headless authorization-code + PKCE client
// for the SDK's OAuthClientProvider interface.
import crypto from 'node:crypto';

/**
 * What startDev() does not parse from the banner: the printed access token,
 * the "New token" curl command and the Inspector CLI line; with `--hosts N`
 * also the hosts (`    web-1     env=prod,role=web   http://127.0.0.1:PORT`
 * under "Agent", as {name, labels: {env, role}, url}, in banner order) and
 * the sample policy's path.
 */
export function parseDevBanner(stdout) {
  const token = stdout.match(/^Access token[^\n]*:\n\s*\n(\S+)\s*$/m)?.[1];
  const newTokenCmd = stdout.match(/^New token:\n\s+(curl .+?)\s*$/m)?.[1];
  const inspectorCmd = stdout.match(/^MCP Inspector \(CLI\):\n\s+(npx .+?)\s*$/m)?.[1];
  const hosts = [...stdout.matchAll(/^ {4}([a-z0-9-]+)\s+((?:[^\s=,]+=[^\s,]*,?)+)\s+(http:\/\/127\.0\.0\.1:\d+)\s*$/gm)]
    .map(([, name, labels, url]) => ({
      name,
      labels: Object.fromEntries(labels.split(',').filter(Boolean).map((kv) => kv.split('='))),
      url,
    }));
  const policyFile = stdout.match(/^\s+Policy\s+(\/\S+)/m)?.[1];
  return { token, newTokenCmd, inspectorCmd, hosts, policyFile };
}

/**
 * A minimal OAuthClientProvider for the authorization-code flow, headless:
 * a public client (token_endpoint_auth_method none) with a loopback redirect
 * URI nobody listens on. redirectToAuthorization() fetches the authorization
 * URL and follows redirects by hand until the Location is the redirect URI,
 * then keeps `code` (after checking `state` and, if given, `iss`).
 * Everything is kept in memory.
 *
 * The SDK may run more than one authorization at once with the same provider
 * (e.g. the POST that got 401 and the GET SSE stream it opens after
 * `notifications/initialized`, which also gets 401): each is kept in `flows`
 * with its own state and PKCE verifier (matched by code_challenge);
 * `useFlow(f)` picks the one finishAuth() will complete (default: the last),
 * with the client registration it was made for (concurrent auth() calls may
 * each register a client).
 */
export class HeadlessAuthCodeProvider {
  constructor({ redirectUrl, expectedIssuer, scope, clientName = 'e2e-dev-authcode', grantTypes = ['authorization_code', 'refresh_token'] }) {
    this._redirectUrl = String(redirectUrl);
    this.grantTypes = grantTypes;
    this.expectedIssuer = expectedIssuer;
    this.scope = scope;
    this.clientName = clientName;
    this._clientInformation = undefined;
    this._tokens = undefined;
    this._states = new Set();
    this._verifiers = [];
    this._activeVerifier = undefined;
    this._pending = new Set();
    this.registered = new Map();  // client_id → client information saved (DCR), one per concurrent registration
    this.errors = [];             // authorizations that failed to reach the redirect URI
    this.authorizationUrls = []; // every URL passed to redirectToAuthorization
    this.flows = [];              // {url, state, scope, verifier, hops, callback, code} per completed authorization
    this.callback = undefined;    // the selected flow's final redirect URL (code, state, iss)
    this.code = undefined;        // the selected flow's code
  }

  get redirectUrl() { return this._redirectUrl; }

  get clientMetadata() {
    return {
      client_name: this.clientName,
      redirect_uris: [this._redirectUrl],
      grant_types: this.grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(this.scope ? { scope: this.scope } : {}),
    };
  }

  state() {
    const s = crypto.randomBytes(16).toString('base64url');
    this._states.add(s);
    return s;
  }

  clientInformation() { return this._clientInformation; }
  saveClientInformation(info) {
    this._clientInformation = info;
    this.registered.set(info.client_id, info);
  }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; }
  saveCodeVerifier(v) { this._verifiers.push(v); }
  codeVerifier() {
    const v = this._activeVerifier ?? this._verifiers.at(-1);
    if (!v) throw new Error('no code verifier saved');
    return v;
  }

  useFlow(flow) {
    const info = this.registered.get(flow.url.searchParams.get('client_id'));
    if (info) this._clientInformation = info;
    this._activeVerifier = flow.verifier;
    this.callback = flow.callback;
    this.code = flow.code;
  }

  /** Waits until no authorization is being followed (and none started within `quietMs`). */
  async settled(quietMs = 150) {
    for (;;) {
      await Promise.allSettled([...this._pending]);
      await new Promise((r) => setTimeout(r, quietMs));
      if (this._pending.size === 0) return;
    }
  }

  redirectToAuthorization(authorizationUrl) {
    const p = this._follow(authorizationUrl);
    this._pending.add(p);
    const done = () => this._pending.delete(p);
    p.then(done, (e) => { this.errors.push(e); done(); });
    return p;
  }

  async _follow(authorizationUrl) {
    const start = new URL(authorizationUrl);
    this.authorizationUrls.push(start);
    const state = start.searchParams.get('state');
    if (!this._states.has(state)) throw new Error(`authorization URL carries a state this provider did not issue: ${start}`);
    const challenge = start.searchParams.get('code_challenge');
    const verifier = this._verifiers.find((v) => crypto.createHash('sha256').update(v).digest('base64url') === challenge);
    if (!verifier) throw new Error(`no saved PKCE verifier matches code_challenge ${challenge}`);
    const hops = [];
    let url = start;
    for (let i = 0; i < 10; i++) {
      hops.push(url.href);
      const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      const loc = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !loc) {
        throw new Error(`GET ${url} → HTTP ${res.status} without a redirect: ${body.slice(0, 300)}`);
      }
      const next = new URL(loc, url);
      if (next.href.startsWith(this._redirectUrl.split('?')[0])) {
        const p = next.searchParams;
        if (p.get('error')) throw new Error(`authorization error at the redirect URI: ${next}`);
        if (p.get('state') !== state) throw new Error(`state mismatch: sent ${state}, got ${p.get('state')} (${next})`);
        if (this.expectedIssuer !== undefined && p.get('iss') !== this.expectedIssuer) {
          throw new Error(`iss mismatch (RFC 9207): expected ${this.expectedIssuer}, got ${p.get('iss')} (${next})`);
        }
        const code = p.get('code');
        if (!code) throw new Error(`no code at the redirect URI: ${next}`);
        const flow = { url: start, state, scope: start.searchParams.get('scope'), verifier, hops, callback: next, code };
        this.flows.push(flow);
        this.useFlow(flow);
        return;
      }
      url = next;
    }
    throw new Error(`more than 10 redirects from ${authorizationUrl}: ${hops.join(' → ')}`);
  }
}
