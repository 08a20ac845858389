// POLICY_FILE and MCP_FILTER_TOOLS end to end: the real binary with a policy
// file, the real IdP issuing tokens with a `groups` claim (e2e-ops: [ops],
// e2e-auditor: [auditor], e2e-all: none), the official TypeScript client, and
// a recording proxy between the bridge and the agent that shows exactly what
// the agent receives.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { buildBinary, startAgent, startBridge, sleep } from '../lib/bridge.js';
import { startIdp, CLIENTS } from '../lib/idp.js';

const POLICY = `
rules:
  - name: no-ssh-edits
    effect: deny
    tools: [sentinel_edit, sentinel_edit_upload_complete]
    when: args.path.under("/etc/ssh")
    message: sshd is managed by configuration management
  - name: ops-services
    effect: allow
    groups: [ops]
    tools: [sentinel_service]
    when: args.action in ["status", "restart"] && args.service.glob(["nginx", "php*"])
  - name: ops-restart
    effect: allow
    groups: [ops]
    tools: [sentinel_restart]
    when: args.service.glob(["nginx", "php*"])
  - name: ops-edit-web
    effect: allow
    groups: [ops]
    tools: [sentinel_edit]
    when: >
      args.path.under(["/etc/nginx", "/var/www"]) &&
      args.validator == "" && args.validator_preset == "" && args.backup_dir == ""
  - name: readers
    effect: allow
    groups: [ops, auditor]
    tools: [sentinel_state, sentinel_capabilities, sentinel_help]
`;

const CALL = { timeout: 20_000 };
const started = [];
let idp, agent, bridge, policyFile, agentToken;
const seen = []; // requests as they reached the agent: { method, url, headers }
const clients = [];

before(async () => {
  const bin = await buildBinary();
  idp = await startIdp({ name: 'policy' });
  started.push(idp);
  agentToken = crypto.randomBytes(24).toString('base64url');
  agent = await startAgent({ token: agentToken, bin });
  started.push(agent);

  const target = new URL(agent.url);
  const proxy = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: { ...req.headers } });
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.statusCode = 502; res.end(); });
    req.pipe(up);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  started.push({ stop: () => new Promise((r) => { proxy.closeAllConnections?.(); proxy.close(() => r()); }) });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinelx-policy-'));
  policyFile = path.join(dir, 'policy.yaml');
  fs.writeFileSync(policyFile, POLICY);
  bridge = await startBridge({
    issuer: idp.issuer,
    agentUrl: `http://127.0.0.1:${proxy.address().port}`,
    agentToken,
    bin,
    env: { POLICY_FILE: policyFile, MCP_FILTER_TOOLS: 'true' },
  });
  started.push(bridge);
}, { timeout: 300_000 });

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  for (const s of started.reverse()) await s.stop().catch(() => {});
});

async function tokenFor(client) {
  return idp.getToken({ clientId: client.clientId, resource: bridge.mcpUrl });
}

async function connect(token) {
  const opts = token ? { requestInit: { headers: { Authorization: `Bearer ${token}` } } } : {};
  const client = new Client({ name: 'sentinelx-e2e-policy', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(bridge.mcpUrl), opts), { timeout: 10_000 });
  clients.push(client);
  return client;
}

async function names(client) {
  const { tools } = await client.listTools(undefined, { timeout: 10_000 });
  return tools.map((t) => t.name).sort();
}

const textOf = (r) => (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('');

test('tools/list is filtered per token: scopes and policy', async () => {
  const ops = await connect(await tokenFor(CLIENTS.ops));
  assert.deepEqual(await names(ops), [
    'ping', 'sentinel_capabilities', 'sentinel_edit', 'sentinel_help', 'sentinel_restart', 'sentinel_service', 'sentinel_state',
  ]);
  const auditor = await connect(await tokenFor(CLIENTS.auditor));
  assert.deepEqual(await names(auditor), ['ping', 'sentinel_capabilities', 'sentinel_help', 'sentinel_state']);
  // Every scope, but no group: no rule allows anything.
  const noGroups = await connect(await tokenFor(CLIENTS.all));
  assert.deepEqual(await names(noGroups), ['ping']);
  const anonymous = await connect(null);
  assert.deepEqual(await names(anonymous), ['ping']);
  const pong = JSON.parse(textOf(await anonymous.callTool({ name: 'ping', arguments: {} }, undefined, CALL)));
  assert.equal(pong.ok, true);
  assert.equal(pong.auth?.authenticated, false, JSON.stringify(pong));
  assert.equal(pong.auth.resource_metadata, `${bridge.baseUrl}/.well-known/oauth-protected-resource/mcp`);
  assert.deepEqual(pong.auth.authorization_servers, [idp.issuer]);
  const opsPong = JSON.parse(textOf(await ops.callTool({ name: 'ping', arguments: {} }, undefined, CALL)));
  assert.equal(opsPong.auth, undefined, 'no hint for an authenticated caller');
});

test('group ops restarts nginx; the agent sees who, never the caller token', async () => {
  const token = await tokenFor(CLIENTS.ops);
  const ops = await connect(token);
  await names(ops); // the SDK validates structuredContent against listed output schemas
  const before = seen.length;
  const r = await ops.callTool({ name: 'sentinel_restart', arguments: { service: 'nginx' } }, undefined, CALL);
  assert.ok(!r.isError, textOf(r));
  assert.equal(r.structuredContent.message, 'nginx restart triggered');
  const s = await ops.callTool({ name: 'sentinel_service', arguments: { service: 'nginx', action: 'restart' } }, undefined, CALL);
  assert.ok(!s.isError, textOf(s));

  const calls = seen.slice(before);
  assert.deepEqual(calls.map((c) => `${c.method} ${c.url}`), ['POST /restart', 'POST /service']);
  for (const c of calls) {
    assert.equal(c.headers['x-sentinelx-subject'], CLIENTS.ops.clientId, JSON.stringify(c.headers));
    assert.equal(c.headers['x-sentinelx-client'], CLIENTS.ops.clientId);
    assert.equal(c.headers.authorization, `Bearer ${agentToken}`, 'the bridge authenticates with its own token');
    for (const [k, v] of Object.entries(c.headers)) {
      assert.ok(!String(v).includes(token), `the caller's token reached the agent in ${k}`);
    }
  }
});

test('group ops cannot edit /etc/ssh/sshd_config, however the path is spelled', async () => {
  const ops = await connect(await tokenFor(CLIENTS.ops));
  await names(ops);
  const before = seen.length;
  const edit = (p) => ops.callTool({
    name: 'sentinel_edit', arguments: { path: p, mode: 'write', new_text: 'PermitRootLogin yes\n', create: true },
  }, undefined, CALL);
  for (const p of ['/etc/ssh/sshd_config', ' /etc/ssh/sshd_config ']) {
    const r = await edit(p);
    assert.equal(r.isError, true, `${p}: ${JSON.stringify(r)}`);
    assert.match(textOf(r), /denied by policy rule "no-ssh-edits": sshd is managed by configuration management/);
    assert.equal(r._meta?.policy_rule, 'no-ssh-edits');
  }
  // Spellings the kernel could resolve elsewhere (/var/run → /run, then ..)
  // are refused before any rule runs: the caller is asked for the real path.
  for (const p of ['/var/run/../etc/ssh/sshd_config', '/etc/./ssh/sshd_config', '/etc/nginx/../ssh/sshd_config', '//etc/ssh//sshd_config', '/etc/ssh/']) {
    const r = await edit(p);
    assert.equal(r.isError, true, `${p}: ${JSON.stringify(r)}`);
    assert.match(textOf(r), /give the canonical absolute path/, p);
    assert.equal(r._meta?.policy_rule, undefined);
  }
  assert.equal(seen.length, before, 'no denied call reached the agent');
  assert.ok(!fs.existsSync(path.join(agent.sandbox, 'etc/ssh/sshd_config')), 'the file was not written');

  // The same token may edit what its rules allow …
  const ok = await ops.callTool({
    name: 'sentinel_edit', arguments: { path: '/etc/nginx/conf.d/policy-e2e.conf', mode: 'write', new_text: 'listen 80;\n', create: true },
  }, undefined, CALL);
  assert.ok(!ok.isError, textOf(ok));
  // … and nothing else: stopping nginx, restarting docker, or the same edit
  // with a validator command or a backup directory of the caller's choosing
  // fall to the default.
  const sneaky = { path: '/etc/nginx/conf.d/policy-e2e.conf', mode: 'write', new_text: 'listen 81;\n' };
  for (const [name, args] of [
    ['sentinel_service', { service: 'nginx', action: 'stop' }], ['sentinel_restart', { service: 'docker' }],
    ['sentinel_edit', { ...sneaky, validator: "sh -c 'id > /tmp/pwned' {file}" }],
    ['sentinel_edit', { ...sneaky, backup_dir: '/etc/cron.d' }],
  ]) {
    const n = seen.length;
    const r = await ops.callTool({ name, arguments: args }, undefined, CALL);
    assert.equal(r.isError, true, JSON.stringify(r));
    assert.match(textOf(r), /default-deny/);
    assert.equal(seen.length, n, `${name} ${JSON.stringify(args)} reached the agent`);
  }
  assert.ok(!fs.existsSync(path.join(agent.sandbox, 'etc/cron.d/policy-e2e.conf')), 'no backup in cron.d');
});

test('a hidden tool stays refused when called anyway', async () => {
  const auditor = await connect(await tokenFor(CLIENTS.auditor));
  const r = await auditor.callTool({ name: 'sentinel_restart', arguments: { service: 'nginx' } }, undefined, CALL);
  assert.equal(r.isError, true);
  assert.match(textOf(r), /no rule allows sentinel_restart for "e2e-auditor"/);
  const st = await auditor.callTool({ name: 'sentinel_state', arguments: {} }, undefined, CALL);
  assert.ok(!st.isError, textOf(st));
});

test('audit lines name the deciding rule', async () => {
  await sleep(100);
  const lines = bridge.logs().split('\n').filter((l) => l.includes('"tool call"')).map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.tool === 'sentinel_restart' && l.policy_rule === 'ops-restart' && l.outcome === 'ok'));
  assert.ok(lines.some((l) => l.tool === 'sentinel_edit' && l.policy_rule === 'no-ssh-edits' && l.outcome === 'policy_denied'));
  assert.ok(!bridge.logs().includes(agentToken), 'the agent token is never logged');
});

test('/readyz and the status page show the policy; a broken edit keeps it in force', { timeout: 30_000 }, async () => {
  const ready = async () => (await fetch(`${bridge.baseUrl}/readyz`, { headers: { accept: 'application/json' } })).json();
  let rz = await ready();
  assert.equal(rz.checks.policy.ok, true, JSON.stringify(rz));
  assert.equal(rz.checks.policy.detail.rules, 5);
  assert.equal(rz.checks.policy.detail.file, policyFile);
  const page = await (await fetch(`${bridge.baseUrl}/`, { headers: { accept: 'text/html' } })).text();
  assert.match(page, /Authorization policy/);
  assert.match(page, /<span class="badge ok">5<\/span>/);

  fs.writeFileSync(policyFile, 'rules:\n  - {name: oops, effect: permit}\n');
  const deadline = Date.now() + 15_000;
  while (!(rz = await ready()).checks.policy.detail.last_error && Date.now() < deadline) await sleep(200);
  assert.match(rz.checks.policy.detail.last_error ?? '', /rule "oops": effect must be allow or deny/, JSON.stringify(rz));
  assert.equal(rz.checks.policy.detail.rules, 5, 'the previous rules stay');
  const ops = await connect(await tokenFor(CLIENTS.ops));
  const r = await ops.callTool({ name: 'sentinel_edit', arguments: { path: '/etc/ssh/sshd_config', mode: 'write', new_text: 'x' } }, undefined, CALL);
  assert.match(textOf(r), /no-ssh-edits/, 'still enforced');

  // SIGHUP reloads (and does not end the process).
  fs.writeFileSync(policyFile, POLICY.replace('name: readers', 'name: readers-v2'));
  process.kill(bridge.child.pid, 'SIGHUP');
  while (!bridge.logs().includes('SIGHUP: reloading policy') && Date.now() < deadline + 5_000) await sleep(100);
  assert.match(bridge.logs(), /SIGHUP: reloading policy/);
  while ((rz = await ready()).checks.policy.detail.last_error && Date.now() < deadline + 10_000) await sleep(100);
  assert.equal(rz.checks.policy.detail.last_error, undefined, JSON.stringify(rz));
  assert.equal(bridge.exitInfo, null, 'the bridge is still running');
});
