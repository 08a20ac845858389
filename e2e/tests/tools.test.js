// Every one of the 16 tools (DESIGN.md "Tools", UPSTREAM.md §4 and §6.5),
// called through the official MCP TypeScript client with a client_credentials
// token holding all eight sentinelx:* scopes, against the bridge backed by the
// in-process agent (`sentinelx-mcp agent`). File effects are checked on disk in
// the agent's sandbox: virtual path "/x/y" is <sandbox>/x/y.
//
// Also: each protected tool, with a token lacking exactly its scope, is refused
// with HTTP 403 insufficient_scope naming that scope, and nothing reaches the agent.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { startStack } from '../lib/bridge.js';
import { CLIENTS, SENTINELX_SCOPES } from '../lib/idp.js';
import { postMcp, toolCallBody, parseChallenge } from '../lib/http.js';

const ALL_TOOLS = [
  'ping', 'sentinel_state', 'sentinel_exec', 'sentinel_service', 'sentinel_restart',
  'sentinel_edit', 'sentinel_edit_upload_init', 'sentinel_edit_upload_file', 'sentinel_edit_upload_complete',
  'sentinel_upload_file', 'sentinel_upload_init', 'sentinel_upload_chunk', 'sentinel_upload_complete',
  'sentinel_script_run', 'sentinel_capabilities', 'sentinel_help',
];

// DESIGN.md "Tools": the scope each protected tool needs.
const SCOPE_OF = {
  sentinel_state: 'sentinelx:state',
  sentinel_exec: 'sentinelx:exec',
  sentinel_service: 'sentinelx:service',
  sentinel_restart: 'sentinelx:restart',
  sentinel_edit: 'sentinelx:edit',
  sentinel_edit_upload_init: 'sentinelx:edit',
  sentinel_edit_upload_file: 'sentinelx:edit',
  sentinel_edit_upload_complete: 'sentinelx:edit',
  sentinel_upload_file: 'sentinelx:upload',
  sentinel_upload_init: 'sentinelx:upload',
  sentinel_upload_chunk: 'sentinelx:upload',
  sentinel_upload_complete: 'sentinelx:upload',
  sentinel_script_run: 'sentinelx:script',
  sentinel_capabilities: 'sentinelx:capabilities',
  sentinel_help: 'sentinelx:capabilities',
};

const UPLOAD_BASE = '/var/lib/sentinelx/uploads'; // the agent's upload base dir (virtual)
const SUBJECT = CLIENTS.all.clientId; // client_credentials: sub = client_id
const CALL_TIMEOUT = 20_000;

let s;
let client;
const succeeded = new Set(); // tools that returned a checked, successful result
const run = crypto.randomBytes(4).toString('hex'); // keeps this run's files apart

before(async () => {
  s = await startStack();
  assert.ok(s.agent.sandbox, `the agent printed its sandbox directory:\n${s.agent.stdout()}`);
  assert.ok(fs.statSync(s.agent.sandbox).isDirectory(), `sandbox ${s.agent.sandbox} is a directory`);
  const authProvider = new ClientCredentialsProvider({
    clientId: CLIENTS.all.clientId,
    clientSecret: s.idp.secretOf(CLIENTS.all.clientId),
    scope: SENTINELX_SCOPES.join(' '),
    expectedIssuer: s.idp.issuer,
  });
  client = new Client({ name: 'sentinelx-e2e-tools', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(s.bridge.mcpUrl), { authProvider });
  await client.connect(transport, { timeout: 10_000 });
  // As a real client does: list first, so the SDK validates every
  // structuredContent against the tool's outputSchema.
  const { tools } = await client.listTools(undefined, { timeout: 10_000 });
  assert.deepEqual(tools.map((t) => t.name).sort(), [...ALL_TOOLS].sort());
  // initialize and tools/list are anonymous; the provider gets its token on
  // the first 401 (a protected tool). From then on every call carries it,
  // ping included, so every _meta.subject below is the token's subject.
  const first = await client.callTool({ name: 'sentinel_state', arguments: {} }, undefined, { timeout: CALL_TIMEOUT });
  assert.ok(!first.isError, JSON.stringify(first).slice(0, 300));
  assert.ok(authProvider.tokens()?.access_token, 'the SDK provider holds an access token');
}, { timeout: 300_000 });

after(async () => {
  await client?.close().catch(() => {});
  await s?.stop();
});

/** The real file behind a virtual agent path. */
function real(virtualPath) {
  assert.ok(virtualPath.startsWith('/'), `virtual path is absolute: ${virtualPath}`);
  return path.join(s.agent.sandbox, virtualPath);
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

const b64 = (x) => Buffer.from(x).toString('base64');

async function call(name, args = {}) {
  return client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT });
}

function assertMeta(m, where) {
  assert.ok(m && typeof m === 'object', `${where} present`);
  assert.equal(typeof m.proxy, 'string', `${where}.proxy: ${JSON.stringify(m)}`);
  assert.ok(m.proxy.length > 0, `${where}.proxy non-empty`);
  assert.equal(typeof m.ms, 'number', `${where}.ms: ${JSON.stringify(m)}`);
  assert.ok(Number.isInteger(m.ms) && m.ms >= 0, `${where}.ms is a non-negative integer: ${m.ms}`);
  assert.equal(m.subject, SUBJECT, `${where}.subject: ${JSON.stringify(m)}`);
}

/**
 * A successful tool result: not isError, exactly one text item whose JSON
 * equals structuredContent, `_meta` {proxy, ms, subject} both as the
 * protocol-level result._meta and as the object's `_meta` key. Returns the object.
 */
function ok(name, result) {
  const dump = JSON.stringify(result).slice(0, 800);
  assert.ok(!result.isError, `${name}: isError: ${dump}`);
  const texts = (result.content || []).filter((c) => c.type === 'text');
  assert.equal(texts.length, 1, `${name}: one text content item: ${dump}`);
  let fromText;
  assert.doesNotThrow(() => { fromText = JSON.parse(texts[0].text); }, `${name}: text content is JSON: ${dump}`);
  assert.ok(result.structuredContent && typeof result.structuredContent === 'object', `${name}: structuredContent: ${dump}`);
  assert.deepEqual(fromText, result.structuredContent, `${name}: text JSON equals structuredContent`);
  assertMeta(result._meta, `${name}: result._meta`);
  assertMeta(result.structuredContent._meta, `${name}: structuredContent._meta`);
  assert.equal(result.structuredContent._meta.proxy, result._meta.proxy, `${name}: same proxy in both _meta`);
  assert.equal(result.structuredContent._meta.ms, result._meta.ms, `${name}: same ms in both _meta`);
  succeeded.add(name);
  return result.structuredContent;
}

/** An isError tool result; returns its text. */
function failed(name, result) {
  const dump = JSON.stringify(result).slice(0, 800);
  assert.equal(result.isError, true, `${name}: isError expected: ${dump}`);
  const text = (result.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
  assert.ok(text.length > 0, `${name}: an error text: ${dump}`);
  assert.ok(!/goroutine |panic:|\.go:\d+/.test(text), `${name}: no stack trace in the error: ${text}`);
  assertMeta(result._meta, `${name}: result._meta on the error result`);
  return text;
}

async function state() {
  return ok('sentinel_state', await call('sentinel_state'));
}

describe('every tool through the SDK client (all scopes)', () => {
  test('ping', { timeout: 30_000 }, async () => {
    const o = ok('ping', await call('ping'));
    assert.equal(o.ok, true, JSON.stringify(o));
  });

  test('sentinel_state: counters, and an exec moves total_executions by one', { timeout: 30_000 }, async () => {
    const st = await state();
    for (const k of ['total_executions', 'blocked_count', 'error_count']) {
      assert.ok(Number.isInteger(st[k]) && st[k] >= 0, `${k} is a counter: ${JSON.stringify(st)}`);
    }
    assert.equal(typeof st.uptime, 'string', `uptime: ${JSON.stringify(st)}`);
    assert.match(st.uptime, /^(\d+ days?, )?\d+:\d\d:\d\d/, 'uptime is Python timedelta text');
    ok('sentinel_exec', await call('sentinel_exec', { cmd: 'whoami' }));
    const st2 = await state();
    assert.equal(st2.total_executions, st.total_executions + 1, 'total_executions +1 after one exec');
    assert.equal(st2.last_command, 'whoami');
    assert.equal(st2.last_status, 'ok');
  });

  test('sentinel_capabilities: 89 allowed_commands', { timeout: 30_000 }, async () => {
    const c = ok('sentinel_capabilities', await call('sentinel_capabilities'));
    assert.ok(Array.isArray(c.allowed_commands), JSON.stringify(c).slice(0, 300));
    assert.equal(c.allowed_commands.length, 89);
    assert.equal(c.allowed_commands[0], 'uptime');
    assert.ok(c.allowed_commands.includes('sudo pensa-safe-edit'));
    assert.deepEqual(Object.keys(c.service_actions).sort(), ['docker', 'nginx', 'sentinelx']);
    assert.equal(c.upload_capabilities?.base_dir, UPLOAD_BASE, JSON.stringify(c.upload_capabilities));
  });

  test('sentinel_help: {help: {safe_edit, upload, edit, script}}', { timeout: 30_000 }, async () => {
    const h = ok('sentinel_help', await call('sentinel_help'));
    assert.ok(h.help && typeof h.help === 'object', JSON.stringify(h).slice(0, 300));
    for (const k of ['safe_edit', 'upload', 'edit', 'script']) {
      assert.equal(typeof h.help[k], 'string', `help.${k}`);
      assert.ok(h.help[k].length > 0, `help.${k} non-empty`);
    }
    assert.deepEqual(Object.keys(h).sort(), ['_meta', 'help'], 'only help and _meta');
  });

  test('sentinel_exec: uptime → returncode 0; a disallowed command → isError "Command not allowed:"', { timeout: 30_000 }, async () => {
    const e = ok('sentinel_exec', await call('sentinel_exec', { cmd: 'uptime' }));
    assert.equal(e.returncode, 0, JSON.stringify(e));
    assert.equal(typeof e.output, 'string');
    assert.match(e.output, /load average|up /, e.output);
    assert.equal(typeof e.duration, 'number');

    const st = await state();
    const r = await call('sentinel_exec', { cmd: 'reboot' });
    const text = failed('sentinel_exec', r);
    assert.match(text, /Command not allowed: reboot/, text);
    const st2 = await state();
    assert.equal(st2.blocked_count, st.blocked_count + 1, 'the refusal counts as blocked at the agent');
    assert.equal(st2.last_status, 'blocked');
  });

  test('sentinel_service: nginx status; a disallowed action → isError with allowed_actions', { timeout: 30_000 }, async () => {
    const o = ok('sentinel_service', await call('sentinel_service', { service: 'nginx', action: 'status' }));
    assert.equal(o.ok, true, JSON.stringify(o));
    assert.equal(o.returncode, 0);
    assert.equal(o.service, 'nginx');
    assert.equal(o.action, 'status');
    assert.equal(o.command, 'systemctl status nginx');
    assert.match(o.output, /nginx/, o.output);

    // docker has no reload (nginx does): a valid enum value the agent refuses.
    const r = await call('sentinel_service', { service: 'docker', action: 'reload' });
    const text = failed('sentinel_service', r);
    assert.match(text, /Action not allowed for docker: reload/, text);
    assert.ok(r.structuredContent, `structuredContent on the refusal: ${JSON.stringify(r)}`);
    assert.deepEqual(r.structuredContent.allowed_actions, ['status', 'start', 'stop', 'restart'], JSON.stringify(r.structuredContent));
  });

  test('sentinel_restart: nginx → ok: true', { timeout: 30_000 }, async () => {
    const o = ok('sentinel_restart', await call('sentinel_restart', { service: 'nginx' }));
    assert.equal(o.ok, true, JSON.stringify(o));
    assert.equal(o.service, 'nginx');
    assert.equal(o.message, 'nginx restart triggered');
  });

  test('sentinel_edit: write with create, replace dry_run+diff (file unchanged), then a real replace', { timeout: 30_000 }, async () => {
    const p = `/etc/e2e-${run}/site.conf`;
    const file = real(p);
    assert.ok(!fs.existsSync(file), `${file} does not exist yet`);

    const w = ok('sentinel_edit', await call('sentinel_edit', { path: p, mode: 'write', new_text: 'listen 80;\nserver_name old.example;\n', create: true }));
    assert.equal(w.ok, true, JSON.stringify(w));
    assert.equal(w.returncode, 0);
    assert.equal(w.path, p);
    assert.equal(w.mode, 'write');
    assert.equal(fs.readFileSync(file, 'utf8'), 'listen 80;\nserver_name old.example;\n');

    const d = ok('sentinel_edit', await call('sentinel_edit', {
      path: p, mode: 'replace', old: 'old.example', new_text: 'new.example', dry_run: true, diff: true,
    }));
    assert.equal(d.ok, true, JSON.stringify(d));
    assert.equal(d.returncode, 0);
    assert.match(d.output, /DRY-RUN/, d.output);
    assert.match(d.output, /^-server_name old\.example;$/m, `diff removes the old line:\n${d.output}`);
    assert.match(d.output, /^\+server_name new\.example;$/m, `diff adds the new line:\n${d.output}`);
    assert.ok(d.command.includes('--dry-run') && d.command.includes('--diff'), JSON.stringify(d.command));
    assert.equal(fs.readFileSync(file, 'utf8'), 'listen 80;\nserver_name old.example;\n', 'dry run left the file alone (disk)');
    const cat = ok('sentinel_exec', await call('sentinel_exec', { cmd: `cat ${p}` }));
    assert.equal(cat.returncode, 0, JSON.stringify(cat));
    assert.equal(cat.output, 'listen 80;\nserver_name old.example;', 'dry run left the file alone (cat through the agent)');

    const r = ok('sentinel_edit', await call('sentinel_edit', { path: p, mode: 'replace', old: 'old.example', new_text: 'new.example' }));
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.returncode, 0);
    assert.match(r.output, /OK: editado/, r.output);
    assert.match(r.output, /CHANGES: 1/, r.output);
    assert.equal(fs.readFileSync(file, 'utf8'), 'listen 80;\nserver_name new.example;\n');
  });

  test('sentinel_edit_upload_init → _file (role new, content_base64) → _complete (mode write)', { timeout: 30_000 }, async () => {
    const p = `/etc/e2e-${run}/uploaded.conf`;
    const file = real(p);
    const content = `# large edit ${run}\n` + 'x = 1\n'.repeat(2000);

    const init = ok('sentinel_edit_upload_init', await call('sentinel_edit_upload_init'));
    assert.equal(init.ok, true, JSON.stringify(init));
    assert.match(init.upload_id, /^[0-9a-f]{32}$/, JSON.stringify(init));

    const f = ok('sentinel_edit_upload_file', await call('sentinel_edit_upload_file', {
      upload_id: init.upload_id, role: 'new', content_base64: b64(content),
    }));
    assert.equal(f.ok, true, JSON.stringify(f));
    assert.equal(f.role, 'new');
    assert.equal(f.upload_id, init.upload_id);
    assert.equal(f.size, Buffer.byteLength(content));
    assert.equal(f.sha256, sha256(content));

    const c = ok('sentinel_edit_upload_complete', await call('sentinel_edit_upload_complete', {
      upload_id: init.upload_id, path: p, mode: 'write', create: true,
    }));
    assert.equal(c.ok, true, JSON.stringify(c));
    assert.equal(c.returncode, 0);
    assert.equal(c.upload_id, init.upload_id);
    assert.equal(c.path, p);
    assert.equal(fs.readFileSync(file, 'utf8'), content, 'the uploaded text is the file content');
  });

  test('sentinel_upload_file: content_base64 → sha256, size, upload_mode; the file on disk', { timeout: 30_000 }, async () => {
    const data = crypto.randomBytes(4096 + 17);
    const target = `e2e-${run}/single/blob.bin`;
    const o = ok('sentinel_upload_file', await call('sentinel_upload_file', { target_path: target, content_base64: data.toString('base64') }));
    assert.equal(o.ok, true, JSON.stringify(o));
    assert.equal(o.upload_mode, 'content_base64');
    assert.equal(o.sha256, sha256(data));
    assert.equal(o.size, data.length);
    assert.equal(o.target_path, `${UPLOAD_BASE}/${target}`);
    assert.ok(fs.readFileSync(real(o.target_path)).equals(data), 'bytes on disk match');
  });

  test('sentinel_upload_init → sentinel_upload_chunk ×4 (random, > 1 MiB) → sentinel_upload_complete with sha256', { timeout: 30_000 }, async () => {
    const sizes = [300_000, 300_000, 300_000, (1 << 20) + 12_345 - 900_000];
    const chunks = sizes.map((n) => crypto.randomBytes(n));
    const whole = Buffer.concat(chunks);
    assert.ok(whole.length >= 1 << 20);
    const target = `e2e-${run}/chunked/big.bin`;

    const init = ok('sentinel_upload_init', await call('sentinel_upload_init', { target_path: target, total_size: whole.length, filename: 'big.bin' }));
    assert.equal(init.ok, true, JSON.stringify(init));
    assert.match(init.upload_id, /^[0-9a-f]{32}$/);
    assert.equal(init.total_size, whole.length);
    assert.equal(init.target_path, `${UPLOAD_BASE}/${target}`);

    for (const [i, chunk] of chunks.entries()) {
      const c = ok('sentinel_upload_chunk', await call('sentinel_upload_chunk', { upload_id: init.upload_id, index: i, chunk_base64: chunk.toString('base64') }));
      assert.equal(c.ok, true, JSON.stringify(c));
      assert.equal(c.index, i);
      assert.equal(c.chunk_size, chunk.length);
    }
    assert.ok(!fs.existsSync(real(init.target_path)), 'nothing at the target before complete');

    const done = ok('sentinel_upload_complete', await call('sentinel_upload_complete', { upload_id: init.upload_id, sha256: sha256(whole) }));
    assert.equal(done.ok, true, JSON.stringify(done));
    assert.equal(done.size, whole.length);
    assert.equal(done.sha256, sha256(whole));
    assert.equal(done.target_path, init.target_path);
    const onDisk = fs.readFileSync(real(done.target_path));
    assert.equal(onDisk.length, whole.length);
    assert.ok(onDisk.equals(whole), 'assembled file on disk matches the bytes sent');
  });

  test('sentinel_upload_complete with a wrong sha256 → isError, no file', { timeout: 30_000 }, async () => {
    const data = crypto.randomBytes(50_000);
    const target = `e2e-${run}/chunked/wrong.bin`;
    const init = ok('sentinel_upload_init', await call('sentinel_upload_init', { target_path: target, total_size: data.length }));
    ok('sentinel_upload_chunk', await call('sentinel_upload_chunk', { upload_id: init.upload_id, index: 0, chunk_base64: data.toString('base64') }));
    const wrong = sha256(Buffer.concat([data, Buffer.from('x')]));
    const r = await call('sentinel_upload_complete', { upload_id: init.upload_id, sha256: wrong });
    const text = failed('sentinel_upload_complete', r);
    assert.match(text, /sha256 mismatch/i, text);
    assert.ok(!fs.existsSync(real(init.target_path)), `no file at ${init.target_path} after a sha256 mismatch`);
  });

  test('sentinel_script_run: bash and python3, with args and env', { timeout: 30_000 }, async () => {
    const env = { E2E_GREETING: `hola-${run}` };
    const args = ['one', 'two words'];
    const bash = ok('sentinel_script_run', await call('sentinel_script_run', {
      interpreter: 'bash',
      content: 'printf "%s|%s|%s|%s\\n" "$#" "$1" "$2" "$E2E_GREETING"\n',
      args,
      env,
    }));
    assert.equal(bash.ok, true, JSON.stringify(bash));
    assert.equal(bash.returncode, 0);
    assert.equal(bash.interpreter, 'bash');
    assert.equal(bash.output, `2|one|two words|hola-${run}`);
    assert.deepEqual(bash.command.slice(-2), args, JSON.stringify(bash.command));

    const py = ok('sentinel_script_run', await call('sentinel_script_run', {
      interpreter: 'python3',
      content: 'import json, os, sys\nprint(json.dumps({"argv": sys.argv[1:], "greeting": os.environ.get("E2E_GREETING")}))\n',
      args,
      env,
    }));
    assert.equal(py.ok, true, JSON.stringify(py));
    assert.equal(py.returncode, 0);
    assert.equal(py.interpreter, 'python3');
    assert.deepEqual(JSON.parse(py.output), { argv: args, greeting: `hola-${run}` });
    assert.deepEqual(py.command.slice(-2), args, JSON.stringify(py.command));
  });

  test('all 16 tools were called and returned a checked, successful result', { timeout: 5_000 }, () => {
    assert.deepEqual([...succeeded].sort(), [...ALL_TOOLS].sort());
  });
});

describe('scope gate per tool', () => {
  test('each protected tool with a token lacking exactly its scope → 403 insufficient_scope naming it; agent state unchanged', { timeout: 30_000 }, async () => {
    const allToken = await s.idp.getToken({ clientId: CLIENTS.all.clientId, resource: s.bridge.mcpUrl });
    const tokenWithout = new Map();
    for (const scope of SENTINELX_SCOPES) {
      tokenWithout.set(scope, await s.idp.getToken({
        clientId: CLIENTS.all.clientId,
        resource: s.bridge.mcpUrl,
        scope: SENTINELX_SCOPES.filter((x) => x !== scope).join(' '),
      }));
    }
    const readState = async () => {
      const r = await postMcp(s.bridge.mcpUrl, toolCallBody('st', 'sentinel_state'), { token: allToken });
      assert.equal(r.status, 200, r.text);
      const st = r.messages.find((m) => m.id === 'st')?.result?.structuredContent;
      assert.ok(st && Number.isInteger(st.total_executions), `state: ${r.text.slice(0, 300)}`);
      const { uptime: _u, _meta: _m, ...rest } = st;
      return rest;
    };

    const guardPath = `/etc/e2e-${run}/scope-guard.conf`;
    const guardTarget = `e2e-${run}/scope-guard/blob.bin`;
    const fakeId = 'f'.repeat(32);
    // Arguments that would do something (and move the counters) if they got through.
    const argsOf = {
      sentinel_state: {},
      sentinel_exec: { cmd: 'uptime' },
      sentinel_service: { service: 'nginx', action: 'status' },
      sentinel_restart: { service: 'nginx' },
      sentinel_edit: { path: guardPath, mode: 'write', new_text: 'x\n', create: true },
      sentinel_edit_upload_init: {},
      sentinel_edit_upload_file: { upload_id: fakeId, role: 'new', content_base64: b64('x\n') },
      sentinel_edit_upload_complete: { upload_id: fakeId, path: guardPath, mode: 'write', create: true },
      sentinel_upload_file: { target_path: guardTarget, content_base64: b64('x') },
      sentinel_upload_init: { target_path: guardTarget, total_size: 1 },
      sentinel_upload_chunk: { upload_id: fakeId, index: 0, chunk_base64: b64('x') },
      sentinel_upload_complete: { upload_id: fakeId },
      sentinel_script_run: { interpreter: 'bash', content: 'echo hi\n' },
      sentinel_capabilities: {},
      sentinel_help: {},
    };
    assert.deepEqual(Object.keys(SCOPE_OF).sort(), ALL_TOOLS.filter((t) => t !== 'ping').sort());

    const before0 = await readState();
    const problems = [];
    for (const [tool, scope] of Object.entries(SCOPE_OF)) {
      const id = `scope-${tool}`;
      const r = await postMcp(s.bridge.mcpUrl, toolCallBody(id, tool, argsOf[tool]), { token: tokenWithout.get(scope) });
      const www = r.headers.get('www-authenticate');
      const c = parseChallenge(www);
      const got = `HTTP ${r.status}, WWW-Authenticate: ${www}, body: ${r.text.slice(0, 200)}`;
      if (r.status !== 403) { problems.push(`${tool}: expected 403, got ${got}`); continue; }
      if (c?.scheme !== 'Bearer' || c.params.error !== 'insufficient_scope') problems.push(`${tool}: expected Bearer error="insufficient_scope", got ${got}`);
      // 2025-11-25 (postMcp's default): the 403 names the token's scopes plus the missing one, i.e. all of them.
      const named = (c?.params.scope ?? '').split(' ').sort();
      if (named.join(' ') !== [...SENTINELX_SCOPES].sort().join(' ')) problems.push(`${tool}: expected scope= every sentinelx scope (held + ${scope}), got ${got}`);
      if (r.json?.error?.message !== `Missing required scope: ${scope}` || r.json?.id !== id) {
        problems.push(`${tool}: expected JSON-RPC error id=${id} "Missing required scope: ${scope}", got ${got}`);
      }
    }
    const after0 = await readState();
    assert.deepEqual(problems, []);
    assert.deepEqual(after0, before0, 'the agent state (counters, last_*) did not move');
    assert.ok(!fs.existsSync(real(guardPath)), 'no edit reached the agent');
    assert.ok(!fs.existsSync(real(`${UPLOAD_BASE}/${guardTarget}`)), 'no upload reached the agent');

    // Control: the same calls go through with the missing scope granted.
    const r = await postMcp(s.bridge.mcpUrl, toolCallBody('ctl', 'sentinel_exec', { cmd: 'uptime' }), { token: tokenWithout.get('sentinelx:state') });
    assert.equal(r.status, 200, r.text);
    assert.ok(!r.messages.find((m) => m.id === 'ctl')?.result?.isError, r.text.slice(0, 300));
  });
});
