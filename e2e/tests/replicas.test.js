// Issue 17 "Replicas": two bridges (`serve`, default stateless mode) with the
// same AGENTS_FILE (two agents, web-1 and web-2, each with its own token in a
// token_file) and the same IdP, behind a real nginx running deploy/nginx.conf
// whose upstream block lists both (round-robin). The official TypeScript
// client drives a chunked upload to web-1 through nginx: the chunks reach
// both replicas (their audit lines say which served what), the file on
// web-1's agent is complete and correct, and web-2's agent got nothing.
// Each replica's /readyz (loopback only: nginx answers 404 for it) reports
// both hosts.
//
// Which replica serves a request is read from the audit log ("tool call"
// lines with "tool", "host" and the upload id), never assumed; the one
// assumption is nginx's round-robin over two equal servers alternating, used
// only to steer the `complete` call to the replica a check needs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { buildBinary, startBridge, freePort, sleep } from '../lib/bridge.js';
import { startIdp, CLIENTS } from '../lib/idp.js';
import { findNginx, startNginx, httpsFetch, httpsGet } from '../lib/nginx.js';
import { startFleetAgents, auditLines, readyz } from '../lib/fleet.js';

const UPLOAD_BASE = '/var/lib/sentinelx/uploads'; // the agent's upload base dir (virtual)
const CALL = { timeout: 20_000 };
const haveNginx = !!findNginx();

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const textOf = (r) => (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
const dump = (r) => JSON.stringify(r).slice(0, 1200);

/** Every regular file under dir, relative path → size (the agent's sandbox, as a person would look at it). */
function listFiles(dir) {
  const out = {};
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[path.relative(dir, p)] = fs.statSync(p).size;
    }
  };
  walk(dir);
  return out;
}

describe('two replicas behind nginx (deploy/nginx.conf upstream, round-robin), one AGENTS_FILE', { skip: haveNginx ? false : 'nginx not installed (apt-get install -y nginx)' }, () => {
  const started = [];
  let idp;
  let fleet;
  let replicas; // {A, B}
  let ng;
  let base;
  let client;
  let fetchFn;
  let web2Before;
  const run = crypto.randomBytes(4).toString('hex');

  before(async () => {
    const bin = await buildBinary();
    idp = await startIdp();
    started.push(idp);
    fleet = await startFleetAgents([
      { name: 'web-1', labels: { role: 'web', env: 'prod' } },
      { name: 'web-2', labels: { role: 'web', env: 'staging' } },
    ], { bin });
    started.push(fleet);
    for (const a of fleet.agents.values()) assert.ok(a.sandbox && fs.statSync(a.sandbox).isDirectory(), `${a.name}: sandbox dir:\n${a.stdout()}`);
    assert.equal(fs.statSync(fleet.file).mode & 0o777, 0o600);
    for (const a of fleet.agents.values()) assert.equal(fs.statSync(a.tokenFile).mode & 0o777, 0o600);

    const listenPort = await freePort();
    base = `https://127.0.0.1:${listenPort}`;
    const env = {
      AGENTS_FILE: fleet.file,
      RESOURCE_URL: base,
      OIDC_EXPECTED_AUDIENCE: `${base}/mcp`,
    };
    replicas = {};
    for (const name of ['A', 'B']) {
      // No SENTINELX_URL / SENTINELX_TOKEN: the hosts come from the file only.
      const b = await startBridge({ issuer: idp.issuer, agentUrl: undefined, agentToken: undefined, env, bin });
      started.push(b);
      replicas[name] = Object.assign(b, { name });
    }
    ng = await startNginx({ listenPort, upstreamPorts: [replicas.A.port, replicas.B.port] });
    started.push(ng);

    const token = await idp.getToken({ clientId: CLIENTS.all.clientId, resource: `${base}/mcp` });
    fetchFn = httpsFetch(ng.caFile);
    client = new Client({ name: 'sentinelx-e2e-replicas', version: '0.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      fetch: fetchFn,
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }), { timeout: 10_000 });
    const { tools } = await client.listTools(undefined, { timeout: 10_000 });
    const chunk = tools.find((t) => t.name === 'sentinel_upload_chunk');
    assert.deepEqual(chunk?.inputSchema.properties.host?.enum, ['web-1', 'web-2'], 'both replicas read the same registry');
    web2Before = listFiles(fleet.agents.get('web-2').sandbox);
  }, { timeout: 300_000 });

  after(async () => {
    await client?.close().catch(() => {});
    fetchFn?.close();
    for (const s of started.reverse()) await s.stop().catch(() => {});
  });

  /** The audit lines of both replicas, each tagged with the replica that wrote it. */
  const audit = () => Object.values(replicas).flatMap((r) => auditLines(r).map((l) => ({ ...l, replica: r.name })));

  /**
   * Calls a tool through nginx and returns [result, replica]: the replica
   * whose audit log got the call's one line (a line is written before the
   * answer is sent, but may still be in the pipe: polled, bounded).
   */
  async function callVia(name, args) {
    const before = { A: auditLines(replicas.A).length, B: auditLines(replicas.B).length };
    const r = await client.callTool({ name, arguments: args }, undefined, CALL);
    const deadline = Date.now() + 5000;
    for (;;) {
      const grew = Object.keys(before).filter((k) => auditLines(replicas[k]).length > before[k]);
      if (grew.length === 1) {
        const added = auditLines(replicas[grew[0]]).slice(before[grew[0]]);
        assert.equal(added.length, 1, `one audit line per call: ${JSON.stringify(added)}`);
        assert.equal(added[0].tool, name, JSON.stringify(added[0]));
        return [r, grew[0], added[0]];
      }
      assert.ok(grew.length === 0, `${name}: both replicas logged it?\n${JSON.stringify(audit().slice(-4))}`);
      if (Date.now() > deadline) assert.fail(`${name}: no replica logged the call`);
      await sleep(20);
    }
  }

  const other = (rep) => (rep === 'A' ? 'B' : 'A');

  /**
   * Makes the next request go to `want`: pings (one audited request each)
   * until one is served by the other replica, so round-robin sends the next
   * to `want`. Bounded.
   */
  async function steerTo(want, last) {
    for (let i = 0; i < 4 && last !== other(want); i++) [, last] = await callVia('ping', {});
    assert.equal(last, other(want), `could not steer to replica ${want}`);
  }

  async function init(target, size) {
    const [r, rep, line] = await callVia('sentinel_upload_init', { host: 'web-1', target_path: target, total_size: size });
    assert.ok(!r.isError, dump(r));
    assert.equal(r._meta?.host, 'web-1', JSON.stringify(r._meta));
    assert.equal(line.host, 'web-1', JSON.stringify(line));
    assert.match(r.structuredContent.upload_id, /^[0-9a-f]{32}$/, dump(r));
    return [r.structuredContent, rep];
  }

  async function sendChunks(id, chunks) {
    const served = [];
    let last;
    for (const [i, c] of chunks.entries()) {
      const [r, rep, line] = await callVia('sentinel_upload_chunk', { host: 'web-1', upload_id: id, index: i, chunk_base64: c.toString('base64') });
      assert.ok(!r.isError, `chunk ${i} via ${rep}: ${dump(r)}`);
      assert.equal(r.structuredContent.chunk_size, c.length);
      assert.equal(line.host, 'web-1', JSON.stringify(line));
      assert.equal(line.args?.upload_id, id, JSON.stringify(line));
      assert.equal(line.args?.index, i, JSON.stringify(line));
      assert.equal(line.outcome, 'ok', JSON.stringify(line));
      served.push(rep);
      last = rep;
    }
    return { served, last };
  }

  test('/readyz of each replica reports both hosts reachable', { timeout: 30_000 }, async () => {
    for (const rep of Object.values(replicas)) {
      let rz;
      const deadline = Date.now() + 20_000;
      while ((rz = await readyz(rep.baseUrl)).body.checks?.hosts?.detail?.reachable !== 2 && Date.now() < deadline) await sleep(200);
      assert.equal(rz.status, 200, `replica ${rep.name}: ${JSON.stringify(rz.body)}`);
      const h = rz.body.checks.hosts;
      assert.equal(h.ok, true, JSON.stringify(h));
      assert.equal(h.detail.file, fleet.file);
      assert.equal(h.detail.total, 2);
      assert.equal(h.detail.reachable, 2, JSON.stringify(h));
      assert.deepEqual(Object.keys(h.detail.hosts).sort(), ['web-1', 'web-2']);
      for (const [name, d] of Object.entries(h.detail.hosts)) assert.equal(d.reachable, true, `${rep.name} ${name}: ${JSON.stringify(d)}`);
    }
    const viaNginx = await httpsGet(`${base}/readyz`, ng.caFile);
    assert.equal(viaNginx.status, 404, '/readyz stays internal behind nginx');
  });

  test('a chunked upload to web-1 whose chunks go to both replicas: the file is whole on web-1, web-2 got nothing', { timeout: 30_000 }, async () => {
    const chunks = [180_000, 180_000, 180_000, 180_000, 77_777].map((n) => crypto.randomBytes(n));
    const whole = Buffer.concat(chunks);
    const target = `e2e-${run}/replicas/big.bin`;

    const [up, initRep] = await init(target, whole.length);
    assert.equal(up.target_path, `${UPLOAD_BASE}/${target}`);
    const { served, last } = await sendChunks(up.upload_id, chunks);
    assert.ok(served.includes('A') && served.includes('B'), `chunks served by both replicas: ${served.join(',')}`);
    const real = path.join(fleet.agents.get('web-1').sandbox, up.target_path);
    assert.ok(!fs.existsSync(real), 'nothing at the target before complete');

    // Complete on the replica that did not see the _init: for it the id is
    // one it has not seen, which goes to the host named (the test below
    // below for the other replica).
    await steerTo(other(initRep), last);
    const [done, doneRep, line] = await callVia('sentinel_upload_complete', { host: 'web-1', upload_id: up.upload_id, sha256: sha256(whole) });
    assert.equal(doneRep, other(initRep));
    assert.ok(!done.isError, `complete via ${doneRep}: ${dump(done)}`);
    assert.equal(line.host, 'web-1');
    assert.equal(done.structuredContent.size, whole.length);
    assert.equal(done.structuredContent.sha256, sha256(whole));
    assert.equal(done.structuredContent.target_path, up.target_path);

    const onDisk = fs.readFileSync(real);
    assert.equal(onDisk.length, whole.length);
    assert.ok(onDisk.equals(whole), 'the file on web-1 is the bytes sent, in order');

    // Every audit line of the upload, on either replica, names web-1 and the
    // upload's calls are spread over both.
    const mine = audit().filter((l) => l.tool.startsWith('sentinel_upload_'));
    assert.ok(mine.length >= 2 + chunks.length, JSON.stringify(mine));
    assert.deepEqual([...new Set(mine.map((l) => l.host))], ['web-1'], 'no upload call went to web-2');
    assert.deepEqual([...new Set(mine.map((l) => l.replica))].sort(), ['A', 'B']);
    assert.ok(!audit().some((l) => l.host === 'web-2'), 'no call at all for web-2');
    assert.deepEqual(listFiles(fleet.agents.get('web-2').sandbox), web2Before, "web-2's sandbox is unchanged");
  });

  test('a chunk or complete naming another host is refused by the replica that saw the _init, and never forwarded', { timeout: 30_000 }, async () => {
    const data = crypto.randomBytes(1000);
    const [up, initRep] = await init(`e2e-${run}/replicas/bound.bin`, data.length);
    // A ping served by the other replica puts the next request on initRep.
    await steerTo(initRep, initRep);
    const [r, rep] = await callVia('sentinel_upload_chunk', { host: 'web-2', upload_id: up.upload_id, index: 0, chunk_base64: data.toString('base64') });
    assert.equal(rep, initRep);
    assert.equal(r.isError, true, dump(r));
    assert.match(textOf(r), /started on host "web-1"/);
    await steerTo(initRep, rep);
    const [c, crep] = await callVia('sentinel_upload_complete', { host: 'web-2', upload_id: up.upload_id });
    assert.equal(crep, initRep);
    assert.equal(c.isError, true, dump(c));
    assert.match(textOf(c), /started on host "web-1"/);
    assert.ok(!audit().some((l) => l.host === 'web-2' && l.outcome === 'ok'), 'nothing reached web-2');
    assert.deepEqual(listFiles(fleet.agents.get('web-2').sandbox), web2Before, "web-2's sandbox is unchanged");
  });

  // The replica that saw the _init missed the chunks the other one served;
  // with sha256 the agent, not this replica's ledger, decides.
  test('complete through the replica that saw the _init, chunks spread over both', { timeout: 30_000 }, async () => {
    const chunks = [50_000, 50_000, 50_000, 50_000].map((n) => crypto.randomBytes(n));
    const whole = Buffer.concat(chunks);
    const [up, initRep] = await init(`e2e-${run}/replicas/gap.bin`, whole.length);
    const { served, last } = await sendChunks(up.upload_id, chunks);
    assert.ok(served.includes('A') && served.includes('B'), served.join(','));
    await steerTo(initRep, last);
    const [done, doneRep] = await callVia('sentinel_upload_complete', { host: 'web-1', upload_id: up.upload_id, sha256: sha256(whole) });
    assert.equal(doneRep, initRep);
    assert.ok(!done.isError, `complete via ${doneRep} (chunks via ${served.join(',')}): ${textOf(done)}`);
  });
});
