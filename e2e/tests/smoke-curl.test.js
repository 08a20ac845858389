// The seed README's "MCP smoke test (curl)", verbatim, with real curl and jq.
// Only the URL and YOUR_OAUTH_ACCESS_TOKEN are substituted. Run against the
// default (stateless) bridge and against MCP_STATEFUL=true: DESIGN.md says it
// must work as written in both modes.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, REPO_ROOT } from '../lib/bridge.js';
import { CLIENTS } from '../lib/idp.js';

// Copied byte for byte from seed/sentinelx-core-mcp-README.txt, "MCP smoke test (curl)".
const STEPS = [
  `SESSION=$(curl -si -X POST https://sentinelx.example.com/mcp \\
  -H "Accept: application/json, text/event-stream" \\
  -H "Content-Type: application/json" \\
  -d '{
    "jsonrpc":"2.0","id":"1","method":"initialize",
    "params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"curl","version":"0.1"}}
  }' | grep -i mcp-session-id | awk '{print $2}' | tr -d '\\r')`,
  `curl -s -X POST https://sentinelx.example.com/mcp \\
  -H "Content-Type: application/json" \\
  -H "mcp-session-id: $SESSION" \\
  -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'`,
  `curl -s -X POST https://sentinelx.example.com/mcp \\
  -H "Content-Type: application/json" \\
  -H "mcp-session-id: $SESSION" \\
  -d '{"jsonrpc":"2.0","id":"2","method":"tools/call","params":{"name":"ping","arguments":{}}}' \\
  | sed -n 's/^data: //p' | jq`,
  `curl -s -X POST https://sentinelx.example.com/mcp \\
  -H "Content-Type: application/json" \\
  -H "mcp-session-id: $SESSION" \\
  -H "Authorization: Bearer YOUR_OAUTH_ACCESS_TOKEN" \\
  -d '{"jsonrpc":"2.0","id":"3","method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"}}}' \\
  | sed -n 's/^data: //p' | jq`,
];

// When the seed README is reachable (the shared/ folder beside the repo, as on
// a developer machine and in CI), check the copy above has not drifted.
function findSeed() {
  const candidates = [
    process.env.SEED_README,
    path.resolve(REPO_ROOT, '../shared/seed/sentinelx-core-mcp-README.txt'),
    '/work/shared/seed/sentinelx-core-mcp-README.txt',
  ].filter(Boolean);
  return candidates.find((p) => fs.existsSync(p));
}

function have(cmd) {
  return spawnSync('bash', ['-c', `command -v ${cmd}`]).status === 0;
}

function bash(script, timeoutMs = 20_000) {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

test('prerequisites: curl and jq are installed', () => {
  assert.ok(have('curl'), 'curl is required for the smoke test (Debian: apt-get install -y curl)');
  assert.ok(have('jq'), 'jq is required for the smoke test (Debian: apt-get install -y jq)');
});

test('the embedded steps are the seed README\'s, verbatim', { timeout: 5_000 }, (t) => {
  const seed = findSeed();
  if (!seed) { t.skip('seed README not found beside the repo'); return; }
  const text = fs.readFileSync(seed, 'utf8');
  for (const [i, step] of STEPS.entries()) {
    assert.ok(text.includes(step), `step ${i + 1} differs from ${seed}`);
  }
});

function smokeScript(baseUrl, token) {
  const sub = (s) => s.replaceAll('https://sentinelx.example.com', baseUrl).replaceAll('YOUR_OAUTH_ACCESS_TOKEN', token);
  // Markers between the steps only; the steps themselves run as written.
  return STEPS.map((s, i) => `echo '@@STEP${i + 1}@@'\n${sub(s)}\n${i === 0 ? "echo \"@@SESSION=[$SESSION]@@\"\n" : ''}`).join('') + "echo '@@END@@'\n";
}

function splitSteps(stdout) {
  const out = {};
  const re = /@@STEP(\d)@@\n([\s\S]*?)(?=@@STEP\d@@|@@SESSION=|@@END@@)/g;
  let m;
  while ((m = re.exec(stdout))) out[m[1]] = m[2];
  out.session = stdout.match(/@@SESSION=\[(.*?)\]@@/)?.[1];
  return out;
}

for (const mode of ['stateless', 'stateful']) {
  describe(`seed curl smoke test (${mode})`, () => {
    let s;
    before(async () => {
      s = await startStack({ bridgeEnv: mode === 'stateful' ? { MCP_STATEFUL: 'true' } : {} });
    }, { timeout: 300_000 });
    after(async () => { await s?.stop(); });

    test('four steps: ping (anonymous) and sentinel_exec uptime (bearer) print JSON-RPC results', { timeout: 30_000 }, async () => {
      assert.ok(have('curl') && have('jq'), 'curl and jq are required (apt-get install -y curl jq)');
      const token = await s.idp.getToken({ clientId: CLIENTS.all.clientId, resource: s.bridge.mcpUrl });
      const { code, stdout, stderr } = await bash(smokeScript(s.bridge.baseUrl, token));
      const steps = splitSteps(stdout);
      const ctx = `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
      assert.equal(code, 0, `bash exit ${code}${ctx}`);
      assert.ok(stdout.includes('@@END@@'), `script ran to the end${ctx}`);
      if (mode === 'stateful') assert.ok(steps.session, `step 1 captured an Mcp-Session-Id in stateful mode${ctx}`);
      assert.ok(!steps['1']?.trim(), `step 1 prints nothing${ctx}`);

      // Step 3: ping, no token.
      let ping;
      assert.doesNotThrow(() => { ping = JSON.parse(steps['3']); }, `step 3 printed one JSON document${ctx}`);
      assert.equal(ping.jsonrpc, '2.0');
      assert.equal(ping.id, '2');
      assert.ok(!ping.error, `step 3 error: ${JSON.stringify(ping.error)}`);
      assert.ok(ping.result && !ping.result.isError, `step 3 result: ${JSON.stringify(ping)}`);
      assert.ok(ping.result.content?.length > 0, 'ping content');

      // Step 4: sentinel_exec uptime with the bearer token.
      let exec;
      assert.doesNotThrow(() => { exec = JSON.parse(steps['4']); }, `step 4 printed one JSON document${ctx}`);
      assert.equal(exec.jsonrpc, '2.0');
      assert.equal(exec.id, '3');
      assert.ok(!exec.error, `step 4 error: ${JSON.stringify(exec.error)}`);
      assert.ok(exec.result && !exec.result.isError, `step 4 result: ${JSON.stringify(exec)}`);
      const text = exec.result.content?.find((c) => c.type === 'text')?.text;
      const out = JSON.parse(text);
      assert.match(out.output, /load average|up /, `agent output: ${text}`);
      assert.equal(out.returncode, 0);
      assert.equal(exec.result.structuredContent?.output, out.output);

      assert.ok(!s.bridge.logs().includes(token), 'the token does not appear in the bridge logs');
    });
  });
}
