// `sentinelx-mcp doctor` as an operator runs it: the real binary, an env
// file, the real OAuth server (oidc-provider) and the test agent.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildBinary, freePort, startAgent } from '../lib/bridge.js';
import { startIdp, CLIENTS } from '../lib/idp.js';

const AGENT_TOKEN = 'doctor-agent-token-0123456789';

describe('sentinelx-mcp doctor', () => {
  let bin, idp, agent, dir, mcpUrl;
  const envFile = (extra = {}) => {
    const vars = {
      MCP_HOST: '127.0.0.1', MCP_PORT: String(port), RESOURCE_URL: `http://127.0.0.1:${port}`,
      OIDC_ISSUER: idp.issuer, OIDC_EXPECTED_AUDIENCE: mcpUrl,
      SENTINELX_URL: agent.url, SENTINELX_TOKEN: AGENT_TOKEN, ...extra,
    };
    const f = path.join(dir, `env-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(f, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n', { mode: 0o600 });
    return f;
  };
  let port;
  const doctor = async (args, tokenText) => {
    const extra = [];
    if (tokenText !== undefined) {
      const tf = path.join(dir, 'token');
      fs.writeFileSync(tf, tokenText, { mode: 0o600 });
      extra.push('--token-file', tf);
    }
    // Asynchronous: the IdP answers from this very process's event loop.
    const r = await new Promise((resolve) => {
      const child = spawn(bin, ['doctor', '--json', '--timeout', '3s', ...args, ...extra], { env: { PATH: process.env.PATH } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (status) => { clearTimeout(kill); resolve({ status, stdout, stderr }); });
    });
    for (const secret of [AGENT_TOKEN, tokenText].filter(Boolean)) {
      assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'doctor printed a secret');
    }
    const rep = JSON.parse(r.stdout);
    const check = (name) => rep.checks.find((c) => c.name === name);
    return { code: r.status, rep, check };
  };

  before(async () => {
    bin = await buildBinary();
    idp = await startIdp();
    agent = await startAgent({ token: AGENT_TOKEN });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sx-doctor-'));
    port = await freePort();
    mcpUrl = `http://127.0.0.1:${port}/mcp`;
  }, { timeout: 300_000 });
  after(async () => {
    await agent?.stop();
    await idp?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a good setup: exit 0, every needed check passes, the real token is explained', async () => {
    const token = await idp.getToken({ clientId: CLIENTS.stateOnly.clientId, resource: mcpUrl });
    const { code, rep, check } = await doctor(['--env-file', envFile()], token);
    assert.equal(code, 0, JSON.stringify(rep, null, 1));
    assert.equal(rep.ok, true);
    for (const name of ['config', 'issuer discovery', 'signing keys (JWKS)', 'agent', 'agent refuses anonymous', 'listen', 'token']) {
      assert.equal(check(name).status, 'pass', `${name}: ${JSON.stringify(check(name))}`);
    }
    const notes = check('token').notes.join('\n');
    assert.match(notes, /can call: ping, sentinel_state\n/);
    assert.match(notes, /sentinel_exec \(needs sentinelx:exec\)/);
    assert.match(notes, /client "e2e-state-only"/);
  });

  test('a token for another audience: refused with the reason, exit 1', async () => {
    const token = await idp.getToken({ clientId: CLIENTS.all.clientId, resource: 'http://127.0.0.1:1/other/mcp' });
    const { code, check } = await doctor(['--env-file', envFile()], token);
    assert.equal(code, 1);
    assert.equal(check('token').status, 'fail');
    assert.match(check('token').detail, /audience/);
    assert.match(check('token').notes.join('\n'), /has none of OIDC_EXPECTED_AUDIENCE/);
  });

  test('a wrong issuer and a wrong agent token are named, with fixes', async () => {
    const { code, check } = await doctor(['--env-file', envFile({ OIDC_ISSUER: `${idp.issuer}/nope`, SENTINELX_TOKEN: 'wrong-agent-token' })]);
    assert.equal(code, 1);
    assert.equal(check('issuer discovery').status, 'fail');
    assert.equal(check('agent').status, 'fail');
    assert.match(check('agent').fix, /refused SENTINELX_TOKEN \(17 chars, sha256 [0-9a-f]{12}…\)/);
  });

  test('a stopped IdP fails discovery and keys; the agent checks still run', async () => {
    const f = envFile();
    await idp.stop();
    const { code, check } = await doctor(['--env-file', f]);
    assert.equal(code, 1);
    assert.equal(check('issuer discovery').status, 'fail');
    assert.equal(check('signing keys (JWKS)').status, 'fail');
    assert.equal(check('agent').status, 'pass');
  });
});
