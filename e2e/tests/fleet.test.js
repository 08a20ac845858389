// Issue 17 "Fleet", from the outside: `sentinelx-mcp dev --hosts 3` (three
// sandboxed agents web-1 role=web,env=prod / web-2 role=web,env=staging /
// db-1 role=db,env=prod behind one bridge, with the sample per-host policy of
// server/dev/fleet.go) driven by the official TypeScript SDK client with the
// token its banner prints:
//
//  - tools/list: sentinel_hosts, and a `host` enum ["db-1","web-1","web-2"] on
//    every agent-reaching tool — never in the schema's required (a missing host
//    gets the tool's own error listing the hosts); the four fan-out tools
//    also take `hosts` / `selector`;
//  - sentinel_hosts lists the three with their labels;
//  - a call to one host (`_meta.host`), fan-outs by selector and by glob with
//    one result per host and the summary, per-host policy decisions (alone
//    and inside one fan-out), refusals for a missing or unknown host;
//  - every structuredContent passes the SDK's own outputSchema validation
//    (callTool throws when it does not: nothing here catches that).
//
// And plain `sentinelx-mcp dev` (one agent): 16 tools, no sentinel_hosts, no
// required `host`, sentinel_exec without host — single-host behaviour unchanged.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startDev } from '../lib/bridge.js';
import { parseDevBanner } from '../lib/dev.js';

const HOSTS = ['db-1', 'web-1', 'web-2']; // sorted, as the enum lists them
const FANOUT_TOOLS = ['sentinel_state', 'sentinel_capabilities', 'sentinel_exec', 'sentinel_service'];
const NOT_AGENT = ['ping', 'sentinel_hosts']; // the tools that reach no agent
const SINGLE_HOST_TOOLS = [
  'ping', 'sentinel_state', 'sentinel_exec', 'sentinel_service', 'sentinel_restart',
  'sentinel_edit', 'sentinel_edit_upload_init', 'sentinel_edit_upload_file', 'sentinel_edit_upload_complete',
  'sentinel_upload_file', 'sentinel_upload_init', 'sentinel_upload_chunk', 'sentinel_upload_complete',
  'sentinel_script_run', 'sentinel_capabilities', 'sentinel_help',
];
const CALL = { timeout: 20_000 };

/** Polls cond (a log line written just before the answer may still be in the pipe); bounded. */
async function until(cond, what) {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const textOf = (r) => (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
const dump = (r) => JSON.stringify(r).slice(0, 1500);

/** An SDK client on the dev bridge with the banner's bearer token; tools listed (output validators cached). */
async function connect(dev, token) {
  const client = new Client({ name: 'sentinelx-e2e-fleet', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(dev.mcpUrl), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport, { timeout: 10_000 });
  const { tools } = await client.listTools(undefined, { timeout: 10_000 });
  return { client, tools: new Map(tools.map((t) => [t.name, t])) };
}

/** A successful single-host result: text JSON = structuredContent, _meta in both places. */
function okResult(name, r) {
  assert.ok(!r.isError, `${name}: isError: ${dump(r)}`);
  const sc = r.structuredContent;
  assert.ok(sc && typeof sc === 'object', `${name}: structuredContent: ${dump(r)}`);
  assert.deepEqual(JSON.parse(textOf(r)), sc, `${name}: text JSON equals structuredContent`);
  assert.equal(r._meta?.proxy, 'sentinelx-mcp', `${name}: _meta: ${dump(r)}`);
  assert.deepEqual(sc._meta, r._meta, `${name}: the object's _meta is the result's`);
  return sc;
}

/**
 * A fan-out's structuredContent: {results: [{host, ok, outcome, result|error,
 * policy_rule?, ms}], summary: {hosts, ok, denied, unreachable, error}}, the
 * results in host order, the summary the count of the results. Returns
 * {sc, byHost}.
 */
function fanout(name, r, wantHosts) {
  const sc = r.structuredContent;
  assert.ok(sc && Array.isArray(sc.results), `${name}: results: ${dump(r)}`);
  assert.deepEqual(JSON.parse(textOf(r)), sc, `${name}: text JSON equals structuredContent`);
  assert.equal(r._meta?.host, undefined, `${name}: no single _meta.host on a fan-out: ${JSON.stringify(r._meta)}`);
  const names = sc.results.map((x) => x.host);
  assert.deepEqual(names, [...wantHosts].sort(), `${name}: one result per target host, in order`);
  for (const x of sc.results) {
    assert.equal(typeof x.ok, 'boolean', `${name} ${x.host}: ok: ${JSON.stringify(x)}`);
    assert.equal(typeof x.outcome, 'string', `${name} ${x.host}: outcome: ${JSON.stringify(x)}`);
    assert.ok(Number.isInteger(x.ms) && x.ms >= 0, `${name} ${x.host}: ms: ${JSON.stringify(x)}`);
    assert.equal(x.ok, x.outcome === 'ok', `${name} ${x.host}: ok iff outcome ok: ${JSON.stringify(x)}`);
    if (x.ok) assert.ok(x.result && typeof x.result === 'object' && x.error === undefined, `${name} ${x.host}: a result: ${JSON.stringify(x)}`);
    else assert.ok(typeof x.error === 'string' && x.error.length > 0 && x.result === undefined, `${name} ${x.host}: an error: ${JSON.stringify(x)}`);
  }
  const count = (pred) => sc.results.filter(pred).length;
  assert.deepEqual(sc.summary, {
    hosts: sc.results.length,
    ok: count((x) => x.ok),
    denied: count((x) => x.outcome === 'policy_denied'),
    unreachable: count((x) => x.outcome === 'unreachable'),
    error: count((x) => !x.ok && x.outcome !== 'policy_denied' && x.outcome !== 'unreachable'),
  }, `${name}: summary counts the results: ${JSON.stringify(sc)}`);
  return { sc, byHost: new Map(sc.results.map((x) => [x.host, x])) };
}

describe('dev --hosts 3: a three-host fleet through the TS SDK', () => {
  let dev;
  let banner;
  let client;
  let tools;

  before(async () => {
    dev = await startDev({ noAgent: false, args: ['--hosts', '3'] });
    banner = parseDevBanner(dev.stdout());
    assert.ok(banner.token, `access token in the banner:\n${dev.stdout()}`);
    ({ client, tools } = await connect(dev, banner.token));
  }, { timeout: 300_000 });

  after(async () => {
    await client?.close().catch(() => {});
    await dev?.stop();
  });

  const call = (name, args) => client.callTool({ name, arguments: args }, undefined, CALL);

  test('the banner names the three hosts with their labels and the sample policy', () => {
    assert.deepEqual(banner.hosts.map(({ name, labels }) => ({ name, labels })), [
      { name: 'web-1', labels: { env: 'prod', role: 'web' } },
      { name: 'web-2', labels: { env: 'staging', role: 'web' } },
      { name: 'db-1', labels: { env: 'prod', role: 'db' } },
    ], dev.stdout());
    assert.ok(banner.policyFile, `a Policy line:\n${dev.stdout()}`);
  });

  test('tools/list: sentinel_hosts, and the host enum on every agent-reaching tool (not in required: the tool answers a missing host with the list)', () => {
    assert.ok(tools.has('sentinel_hosts'), [...tools.keys()].join(','));
    assert.deepEqual([...tools.keys()].sort(), [...SINGLE_HOST_TOOLS, 'sentinel_hosts'].sort());
    for (const [name, t] of tools) {
      const props = t.inputSchema.properties ?? {};
      const required = t.inputSchema.required ?? [];
      if (NOT_AGENT.includes(name)) {
        assert.equal(props.host, undefined, `${name} takes no host`);
        continue;
      }
      assert.equal(props.host?.type, 'string', `${name}: host property: ${JSON.stringify(props.host)}`);
      assert.deepEqual(props.host.enum, HOSTS, `${name}: host enum`);
      const fan = FANOUT_TOOLS.includes(name);
      assert.ok(!required.includes('host'), `${name}: host not in required (required: ${JSON.stringify(required)})`);
      assert.equal('hosts' in props && 'selector' in props, fan, `${name}: hosts/selector only on the fan-out tools`);
    }
    // The two the issue names, spelled out.
    assert.deepEqual(tools.get('sentinel_exec').inputSchema.properties.host.enum, HOSTS);
    assert.ok(!(tools.get('sentinel_exec').inputSchema.required ?? []).includes('host'));
    assert.deepEqual(tools.get('sentinel_restart').inputSchema.properties.host.enum, HOSTS);
    assert.match(tools.get('sentinel_restart').inputSchema.properties.host.description, /Required when the bridge fronts more than one host/);
    // The SDK compiled a validator for the tools called below, so each
    // callTool checks structuredContent against the outputSchema.
    for (const name of ['sentinel_exec', 'sentinel_state', 'sentinel_service']) {
      assert.ok(tools.get(name).outputSchema, `${name} has an outputSchema`);
      assert.equal(typeof client.getToolOutputValidator(name), 'function', `the SDK validates ${name}'s output`);
    }
  });

  test('sentinel_hosts lists the three hosts with labels, reachable, no agent address', async () => {
    // Probes run in the background from start-up: wait (bounded) for the
    // first round to have answered on every host.
    let sc;
    const deadline = Date.now() + 20_000;
    do {
      sc = okResult('sentinel_hosts', await call('sentinel_hosts', {}));
      if (sc.hosts?.every((h) => h.reachable && h.agent_version)) break;
      await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < deadline);
    assert.equal(sc.count, 3, JSON.stringify(sc));
    assert.deepEqual(sc.hosts.map((h) => [h.name, h.labels]), [
      ['db-1', { env: 'prod', role: 'db' }],
      ['web-1', { env: 'prod', role: 'web' }],
      ['web-2', { env: 'staging', role: 'web' }],
    ]);
    for (const h of sc.hosts) {
      assert.equal(h.reachable, true, JSON.stringify(h));
      assert.equal(typeof h.agent_version, 'string', JSON.stringify(h));
    }
    assert.ok(!JSON.stringify(sc).includes('127.0.0.1'), `no agent URL in sentinel_hosts: ${JSON.stringify(sc)}`);
  });

  test('one host: sentinel_exec uptime on web-1 → ok, _meta.host = web-1', async () => {
    const sc = okResult('sentinel_exec', await call('sentinel_exec', { cmd: 'uptime', host: 'web-1' }));
    assert.equal(sc._meta.host, 'web-1');
    assert.equal(sc.returncode, 0, JSON.stringify(sc));
    assert.match(sc.output, /load average|up /);
    const st = okResult('sentinel_state', await call('sentinel_state', { host: 'web-1' }));
    assert.equal(st._meta.host, 'web-1');
    assert.equal(st.last_command, 'uptime', 'web-1 ran it');
  });

  test('fan-out: sentinel_exec uptime with selector role=web → web-1 and web-2 ok, summary', async () => {
    const r = await call('sentinel_exec', { cmd: 'uptime', selector: 'role=web' });
    assert.ok(!r.isError, dump(r));
    const { sc, byHost } = fanout('sentinel_exec', r, ['web-1', 'web-2']);
    assert.deepEqual(sc.summary, { hosts: 2, ok: 2, denied: 0, unreachable: 0, error: 0 });
    for (const h of ['web-1', 'web-2']) {
      assert.equal(byHost.get(h).outcome, 'ok');
      assert.match(byHost.get(h).result.output, /load average|up /);
    }
    // The audit log (dev: text format on stderr) has one line per host,
    // each naming the rule that allowed it.
    for (const h of ['web-1', 'web-2']) {
      const line = new RegExp(`tool call .*tool: "sentinel_exec" host: "${h}" fanout: 2 .*policy_rule: "fleet-uptime" outcome: "ok"`);
      await until(() => line.test(dev.stderr()), `an audit line for ${h}:\n${dev.stderr().slice(-3000)}`);
    }
  });

  test('fan-out: sentinel_state with hosts ["*"] → all three', async () => {
    const r = await call('sentinel_state', { hosts: ['*'] });
    assert.ok(!r.isError, dump(r));
    const { sc, byHost } = fanout('sentinel_state', r, HOSTS);
    assert.deepEqual(sc.summary, { hosts: 3, ok: 3, denied: 0, unreachable: 0, error: 0 });
    for (const h of HOSTS) assert.equal(typeof byHost.get(h).result.total_executions, 'number');
    // Each host's own state: only the web hosts ran commands so far, db-1 none.
    assert.equal(byHost.get('db-1').result.total_executions, 0, JSON.stringify(byHost.get('db-1')));
    assert.ok(byHost.get('web-1').result.total_executions >= 2, JSON.stringify(byHost.get('web-1')));

    const caps = await call('sentinel_capabilities', { hosts: ['web-*'], selector: 'env=prod' });
    assert.ok(!caps.isError, dump(caps));
    fanout('sentinel_capabilities', caps, ['web-1']);
  });

  test('per-host policy: nginx restart denied on db-1 (default deny), allowed on web-1', async () => {
    const denied = await call('sentinel_service', { service: 'nginx', action: 'restart', host: 'db-1' });
    assert.equal(denied.isError, true, dump(denied));
    assert.match(textOf(denied), /denied by policy \(default-deny\)/, textOf(denied));
    assert.equal(denied._meta?.policy_rule, 'default-deny', JSON.stringify(denied._meta));
    assert.equal(denied._meta?.host, 'db-1');

    const allowed = okResult('sentinel_service', await call('sentinel_service', { service: 'nginx', action: 'restart', host: 'web-1' }));
    assert.equal(allowed._meta.host, 'web-1');
    assert.equal(allowed.ok, true, JSON.stringify(allowed));
    assert.equal(allowed.service, 'nginx');
    assert.equal(allowed.action, 'restart');

    // A deny rule by label names itself.
    const script = await call('sentinel_script_run', { interpreter: 'bash', content: 'id', host: 'db-1' });
    assert.equal(script.isError, true, dump(script));
    assert.match(textOf(script), /no-scripts-on-prod/);
    assert.match(textOf(script), /scripts never run on production hosts/);
  });

  test('per-host policy inside one fan-out: nginx restart on hosts ["*"] → web hosts ok, db-1 denied', async () => {
    const r = await call('sentinel_service', { service: 'nginx', action: 'restart', hosts: ['*'] });
    const { sc, byHost } = fanout('sentinel_service', r, HOSTS);
    assert.deepEqual(sc.summary, { hosts: 3, ok: 2, denied: 1, unreachable: 0, error: 0 }, JSON.stringify(sc));
    assert.equal(byHost.get('web-1').outcome, 'ok');
    assert.equal(byHost.get('web-2').outcome, 'ok');
    const db = byHost.get('db-1');
    assert.equal(db.outcome, 'policy_denied', JSON.stringify(db));
    assert.equal(db.policy_rule, 'default-deny', JSON.stringify(db));
    assert.match(db.error, /default-deny/, JSON.stringify(db));
    // The fan-out as a whole is not an error when some hosts did it.
    assert.ok(!r.isError, dump(r));
  });

  test('a missing host: sentinel_exec → isError listing the hosts; sentinel_restart → isError', async () => {
    const exec = await call('sentinel_exec', { cmd: 'uptime' });
    assert.equal(exec.isError, true, dump(exec));
    assert.match(textOf(exec), /host is required/);
    assert.match(textOf(exec), /db-1, web-1, web-2/);

    const restart = await call('sentinel_restart', { service: 'nginx' });
    assert.equal(restart.isError, true, dump(restart));
    assert.match(textOf(restart), /host/, textOf(restart));

    const unknown = await call('sentinel_restart', { service: 'nginx', host: 'web-9' });
    assert.equal(unknown.isError, true, dump(unknown));
    for (const h of HOSTS) assert.ok(textOf(unknown).includes(h), `unknown host: the error names ${h}: ${textOf(unknown)}`);
  });

  test('a missing host on sentinel_restart lists the hosts the caller may use', async () => {
    // The sample policy lets sentinel_restart run on the role=web hosts only,
    // so those are the hosts this caller may use with it.
    const restart = await call('sentinel_restart', { service: 'nginx' });
    assert.equal(restart.isError, true);
    assert.match(textOf(restart), /host is required: this bridge fronts 3 hosts; hosts you may use: web-1, web-2$/, textOf(restart));
  });

  test('bad fan-outs are clear tool errors: host with hosts, selector syntax, nothing matches', async () => {
    for (const args of [
      { host: 'web-1', hosts: ['web-2'] },
      { selector: 'role==web' },
      { selector: 'role=cache' },
    ]) {
      const r = await call('sentinel_state', args);
      assert.equal(r.isError, true, `${JSON.stringify(args)}: ${dump(r)}`);
      assert.ok(textOf(r).length > 0, JSON.stringify(args));
      assert.ok(!/panic|goroutine/.test(textOf(r)), textOf(r));
    }
  });
});

describe('dev (one agent): single-host behaviour unchanged', () => {
  let dev;
  let client;
  let tools;

  before(async () => {
    dev = await startDev({ noAgent: false });
    const banner = parseDevBanner(dev.stdout());
    assert.ok(banner.token, `access token in the banner:\n${dev.stdout()}`);
    assert.deepEqual(banner.hosts, [], 'no host lines in a one-agent banner');
    ({ client, tools } = await connect(dev, banner.token));
  }, { timeout: 300_000 });

  after(async () => {
    await client?.close().catch(() => {});
    await dev?.stop();
  });

  test('16 tools, no sentinel_hosts, no required host, no fan-out arguments', () => {
    assert.deepEqual([...tools.keys()].sort(), [...SINGLE_HOST_TOOLS].sort());
    for (const [name, t] of tools) {
      assert.ok(!(t.inputSchema.required ?? []).includes('host'), `${name}: host not required`);
      const props = t.inputSchema.properties ?? {};
      assert.equal(props.hosts, undefined, `${name}: no hosts argument`);
      assert.equal(props.selector, undefined, `${name}: no selector argument`);
    }
  });

  test('sentinel_exec without host works; no _meta.host', async () => {
    const r = await client.callTool({ name: 'sentinel_exec', arguments: { cmd: 'uptime' } }, undefined, CALL);
    const sc = okResult('sentinel_exec', r);
    assert.match(sc.output, /load average|up /);
    assert.equal(r._meta.host, undefined, JSON.stringify(r._meta));
    const st = okResult('sentinel_state', await client.callTool({ name: 'sentinel_state', arguments: {} }, undefined, CALL));
    assert.equal(st.last_command, 'uptime');
  });
});
