// `sentinelx-mcp dev` (bridge + embedded OAuth authorization server + sandboxed
// agent) driven by real clients, each given only what the banner prints:
//
//  1. the TS SDK v1 interactive flow from the bare MCP URL: 401 → PRM → AS
//     metadata → dynamic client registration → authorization code + PKCE
//     (auto-approved, followed headless) → finishAuth → sentinel_state;
//  2. the MCP Inspector CLI with the printed access token;
//  3. mcp-remote (stdio proxy) with the printed client id/secret
//     (--client-credentials), driven by the SDK's StdioClientTransport;
//  4. the printed "New token" curl command, run verbatim with real curl + jq.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { startDev, freePort, E2E_DIR, BIN } from '../lib/bridge.js';
import { parseDevBanner, HeadlessAuthCodeProvider } from '../lib/dev.js';
import { NODE22 } from '../lib/conformance.js';
import { postMcp, toolCallBody } from '../lib/http.js';

let dev;
let banner;
const closers = [];

before(async () => {
  dev = await startDev({ noAgent: false });
  banner = parseDevBanner(dev.stdout());
  assert.ok(banner.token, `access token in the banner:\n${dev.stdout()}`);
  assert.ok(banner.newTokenCmd, `"New token" curl command in the banner:\n${dev.stdout()}`);
}, { timeout: 300_000 });

after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await dev?.stop();
});

const jwtPayload = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());

/** The agent's state as the bridge returns it: text JSON = structuredContent, _meta.subject set. */
function assertStateResult(r, subject) {
  assert.ok(!r.isError, JSON.stringify(r).slice(0, 500));
  assert.equal(typeof r.structuredContent?.total_executions, 'number', JSON.stringify(r).slice(0, 500));
  const text = r.content?.find((c) => c.type === 'text')?.text;
  assert.ok(text, 'text content');
  assert.equal(JSON.parse(text).total_executions, r.structuredContent.total_executions);
  assert.ok(r._meta?.subject, `_meta.subject: ${JSON.stringify(r._meta)}`);
  if (subject) assert.equal(r._meta.subject, subject);
}

test('TS SDK v1: authorization code + PKCE from the bare MCP URL (DCR, headless auto-approve, finishAuth)', { timeout: 30_000 }, async () => {
  const redirectUrl = `http://127.0.0.1:${await freePort()}/callback`;
  const provider = new HeadlessAuthCodeProvider({ redirectUrl, expectedIssuer: dev.issuer });

  const c1 = new Client({ name: 'e2e-dev-authcode', version: '0' });
  closers.push(() => c1.close());
  const t1 = new StreamableHTTPClientTransport(new URL(dev.mcpUrl), { authProvider: provider });
  await c1.connect(t1, { timeout: 10_000 }); // anonymous initialize is allowed
  await assert.rejects(
    c1.callTool({ name: 'sentinel_state', arguments: {} }, undefined, { timeout: 15_000 }),
    (e) => e instanceof UnauthorizedError || /Unauthorized/.test(e?.message),
  );
  // redirectToAuthorization ran: DCR first, then the authorization request.
  // Exactly one: the GET SSE stream the SDK opens after
  // notifications/initialized gets 405 in stateless mode (as from a bare
  // go-sdk server), not a 401 that would start a second, parallel sign-in.
  await provider.settled();
  assert.deepEqual(provider.errors.map(String), [], 'no authorization failed');
  assert.equal(provider.flows.length, 1, `one sign-in on connect, not one per stream: ${provider.flows.map((f) => f.scope).join(' | ')}`);
  assert.equal(provider.registered.size, 1, 'one dynamic registration');
  assert.equal(provider.flows.length, provider.authorizationUrls.length, 'every authorization reached the redirect URI');
  assert.ok(provider.registered.size >= 1, 'client registered dynamically (DCR at /register)');
  assert.ok(!provider.registered.has(dev.clientId), 'a fresh client, not the pre-registered one');
  for (const f of provider.flows) {
    const az = f.url;
    assert.equal(az.origin, dev.issuer, `authorization endpoint on the issuer: ${az}`);
    assert.ok(provider.registered.has(az.searchParams.get('client_id')), `client_id ${az.searchParams.get('client_id')} is one registered by DCR`);
    assert.equal(az.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(az.searchParams.get('redirect_uri'), redirectUrl);
    assert.equal(az.searchParams.get('resource'), dev.mcpUrl, 'RFC 8707 resource = the PRM resource');
    assert.equal(f.callback.searchParams.get('iss'), dev.issuer, 'RFC 9207 iss');
    assert.equal(f.callback.searchParams.get('state'), f.state);
  }
  assert.ok(provider.flows.some((f) => f.scope?.split(' ').includes('sentinelx:state')),
    `an authorization asked for sentinelx:state: ${provider.flows.map((f) => f.scope).join(' | ')}`);
  // Complete the one asking for the most scopes.
  const flow = provider.flows.reduce((a, b) => ((b.scope ?? '').split(' ').length > (a.scope ?? '').split(' ').length ? b : a));
  provider.useFlow(flow);
  const nAuthz = provider.authorizationUrls.length;
  await c1.close();

  await t1.finishAuth(provider.code);
  const tokens = provider.tokens();
  assert.ok(tokens?.access_token, 'token from the code exchange');
  const claims = jwtPayload(tokens.access_token);
  assert.equal(claims.iss, dev.issuer);
  assert.ok([claims.aud].flat().includes(dev.mcpUrl), `aud ${JSON.stringify(claims.aud)} includes ${dev.mcpUrl}`);

  const c2 = new Client({ name: 'e2e-dev-authcode', version: '0' });
  closers.push(() => c2.close());
  await c2.connect(new StreamableHTTPClientTransport(new URL(dev.mcpUrl), { authProvider: provider }), { timeout: 10_000 });
  const r = await c2.callTool({ name: 'sentinel_state', arguments: {} }, undefined, { timeout: 15_000 });
  assertStateResult(r, claims.sub);
  assert.equal(provider.authorizationUrls.length, nAuthz, 'no new authorization after finishAuth');
  await c2.close();
});

function runNode22(args, { env, timeoutMs = 25_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(NODE22, args, {
      cwd: E2E_DIR,
      env: { PATH: `${path.dirname(NODE22)}:${process.env.PATH}`, HOME: os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => { clearTimeout(t); resolve({ code, signal, out, err }); });
  });
}

test('MCP Inspector CLI with the banner\'s access token: tools/list (16) and sentinel_exec uptime', { timeout: 30_000 }, async () => {
  // The pinned binary (node_modules/.bin/mcp-inspector → @modelcontextprotocol/inspector/cli/build/cli.js).
  const bin = path.join(E2E_DIR, 'node_modules', '.bin', 'mcp-inspector');
  assert.ok(fs.existsSync(bin), bin);
  // The banner's own Inspector line is the same invocation through npx.
  assert.ok(banner.inspectorCmd?.includes(`--cli ${dev.mcpUrl} --transport http --header "Authorization: Bearer ${banner.token}" --method tools/list`),
    `banner Inspector line: ${banner.inspectorCmd}`);
  const inspect = (...method) => runNode22([bin, '--cli', dev.mcpUrl, '--transport', 'http',
    '--header', `Authorization: Bearer ${banner.token}`, ...method], { timeoutMs: 13_000 });

  const [list, call] = await Promise.all([
    inspect('--method', 'tools/list'),
    inspect('--method', 'tools/call', '--tool-name', 'sentinel_exec', '--tool-arg', 'cmd=uptime'),
  ]);
  assert.equal(list.code, 0, list.out + list.err);
  const tools = JSON.parse(list.out).tools;
  assert.equal(tools.length, 16, tools.map((t) => t.name).join(', '));

  assert.equal(call.code, 0, call.out + call.err);
  const r = JSON.parse(call.out);
  assert.ok(!r.isError, call.out.slice(0, 500));
  const sc = r.structuredContent ?? {};
  const output = [sc.stdout, sc.output, sc.result, r.content?.[0]?.text].filter((x) => typeof x === 'string').join('\n');
  assert.match(output, /load average|up\s/, `uptime output from the agent: ${call.out.slice(0, 500)}`);
  assert.ok(r._meta?.subject, `_meta.subject: ${call.out.slice(0, 500)}`);
});

test('mcp-remote (stdio) with the banner\'s client id/secret (--client-credentials): tools/list and sentinel_state', { timeout: 30_000 }, async () => {
  const proxy = path.join(E2E_DIR, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-remote-dev-'));
  closers.push(async () => fs.rmSync(home, { recursive: true, force: true }));
  const transport = new StdioClientTransport({
    command: NODE22,
    args: [proxy, dev.mcpUrl, '--transport', 'http-only', '--client-credentials',
      '--static-oauth-client-info', JSON.stringify({ client_id: dev.clientId, client_secret: dev.clientSecret })],
    env: { PATH: process.env.PATH, HOME: home, MCP_REMOTE_CONFIG_DIR: path.join(home, '.mcp-auth') },
    stderr: 'pipe',
  });
  let errText = '';
  transport.stderr?.on('data', (d) => { errText += d; });
  const client = new Client({ name: 'e2e-dev-mcp-remote', version: '0' });
  closers.push(() => client.close());
  await client.connect(transport, { timeout: 15_000 });
  const { tools } = await client.listTools(undefined, { timeout: 10_000 });
  assert.equal(tools.length, 16);
  // mcp-remote answers requests that arrive while its own sign-in is under way
  // with "Unauthorized"; retry those as clients.test.js does.
  let r;
  for (let i = 0; ; i++) {
    try {
      r = await client.callTool({ name: 'sentinel_state', arguments: {} }, undefined, { timeout: 10_000 });
      break;
    } catch (e) {
      if (i >= 4 || !/Unauthorized|ENOENT/.test(e.message)) throw new Error(`${e.message}\n--- mcp-remote stderr ---\n${errText.slice(-3000)}`);
      await new Promise((res) => setTimeout(res, 300));
    }
  }
  assertStateResult(r);
  assert.match(errText, /client_credentials/, errText.slice(-3000));
  await client.close();
});

test('the banner\'s "New token" curl command (real curl + jq) prints a token the bridge accepts', { timeout: 30_000 }, async () => {
  const { code, out, err } = await new Promise((resolve) => {
    const child = spawn('bash', ['-c', banner.newTokenCmd], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    let e = '';
    child.stdout.on('data', (d) => { o += d; });
    child.stderr.on('data', (d) => { e += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (c) => { clearTimeout(t); resolve({ code: c, out: o, err: e }); });
  });
  assert.equal(code, 0, `${banner.newTokenCmd}\n${out}${err}`);
  const token = out.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `a JWT on stdout, got: ${out}`);
  assert.notEqual(token, banner.token, 'a new token');
  const claims = jwtPayload(token);
  assert.equal(claims.iss, dev.issuer);
  assert.ok([claims.aud].flat().includes(dev.mcpUrl), `aud ${JSON.stringify(claims.aud)}`);

  const res = await postMcp(dev.mcpUrl, toolCallBody(1, 'sentinel_state'), { token });
  assert.equal(res.status, 200, res.text.slice(0, 500));
  const msg = res.messages.find((m) => m.id === 1);
  assert.ok(msg?.result, res.text.slice(0, 500));
  assertStateResult(msg.result, claims.sub);

  const anon = await postMcp(dev.mcpUrl, toolCallBody(2, 'sentinel_state'));
  assert.equal(anon.status, 401, 'the same call without the token is refused');
});

test('quiet start: the banner is the first thing on the terminal (stdout and stderr merged, default LOG_LEVEL)', { timeout: 30_000 }, async () => {
  const port = await freePort();
  let idpPort = await freePort();
  while (idpPort === port) idpPort = await freePort();
  // One pipe for both streams, in the order the process wrote them, as a terminal shows them.
  const child = spawn('bash', ['-c', 'exec "$0" dev --no-agent --port "$1" --idp-port "$2" 2>&1', BIN, String(port), String(idpPort)],
    { env: { PATH: process.env.PATH, HOME: os.tmpdir() }, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const deadline = Date.now() + 20_000;
  while (!out.includes('--- end of smoke test ---') && Date.now() < deadline && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('close', r));
  assert.ok(out.includes('--- end of smoke test ---'), `banner printed:\n${out}`);
  const first = out.split('\n').find((l) => l.trim() !== '');
  assert.match(first, /^sentinelx-mcp dev: bridge, OAuth server and agent on loopback/, `first line: ${first}\n${out.slice(0, 1500)}`);
  assert.ok(!out.includes('registered route'), `the OAuth library's route lines are debug-level:\n${out.slice(0, 1500)}`);
});
