// Many hosts behind one bridge (AGENTS_FILE, docs/fleet.md): real agents,
// each with its own token in a token_file, and the registry file naming
// them; plus readers for what a fleet bridge logs and answers.
//
//   const fleet = await startFleetAgents([{ name: 'web-1', labels: { role: 'web' } }, …]);
//   startBridge({ …, agentUrl: undefined, agentToken: undefined, env: { AGENTS_FILE: fleet.file } });
//   fleet.agents.get('web-1').sandbox; await fleet.stop();
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildBinary, startAgent } from './bridge.js';

/**
 * The AGENTS_FILE text for hosts [{name, url, tokenFile, labels?, timeout?}]
 * in the shape of issue 17 and docs/fleet.md (block style, one host a block).
 */
export function agentsYaml(hosts) {
  let y = '# AGENTS_FILE written by e2e/lib/fleet.js\nhosts:\n';
  for (const h of hosts) {
    y += `  - name: ${h.name}\n    url: ${h.url}\n    token_file: ${h.tokenFile}\n`;
    const labels = Object.entries(h.labels ?? {});
    if (labels.length) y += `    labels: {${labels.map(([k, v]) => `${k}: ${v}`).join(', ')}}\n`;
    if (h.timeout) y += `    timeout: ${h.timeout}\n`;
  }
  return y;
}

/**
 * Starts one `sentinelx-mcp agent` per host, each with a fresh random token
 * written to <dir>/<name>.token (mode 0600), and writes <dir>/agents.yaml
 * (mode 0600) naming them all. Returns {dir, file, agents: Map name →
 * agent process (url, sandbox, token, tokenFile, labels), stop()}; stop()
 * ends the agents and removes dir. Everything started so far is stopped
 * when a later agent fails to start.
 * @param {{name: string, labels?: object, timeout?: string}[]} hosts
 */
export async function startFleetAgents(hosts, { bin } = {}) {
  bin ??= await buildBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sx-fleet-'));
  const agents = new Map();
  const stop = async () => {
    for (const a of agents.values()) await a.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const h of hosts) {
      const token = crypto.randomBytes(24).toString('base64url');
      const tokenFile = path.join(dir, `${h.name}.token`);
      fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      const a = await startAgent({ token, bin });
      agents.set(h.name, Object.assign(a, { name: h.name, token, tokenFile, labels: h.labels ?? {} }));
    }
    const file = path.join(dir, 'agents.yaml');
    fs.writeFileSync(file, agentsYaml(hosts.map((h) => ({ ...h, url: agents.get(h.name).url, tokenFile: agents.get(h.name).tokenFile }))), { mode: 0o600 });
    return { dir, file, agents, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The audit lines ("msg":"tool call", one per tool call and, in a fan-out,
 * one per host) a bridge started with LOG_FORMAT=json has written so far,
 * parsed; other lines are skipped.
 */
export function auditLines(proc) {
  const out = [];
  for (const l of proc.logs().split('\n')) {
    if (!l.includes('"tool call"')) continue;
    try {
      const j = JSON.parse(l);
      if (j.msg === 'tool call') out.push(j);
    } catch { /* a partial last line */ }
  }
  return out;
}

/** GET <baseUrl>/readyz as JSON: {status, checks: {hosts: {ok, detail: {hosts: {name: {reachable, …}}, reachable, total}}}}. */
export async function readyz(baseUrl) {
  const r = await fetch(`${baseUrl}/readyz`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.json() };
}
