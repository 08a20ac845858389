// deploy/release.sh (make release): the artifacts it promises — static
// binaries stamped with the version, reproducible tarballs, SHA256SUMS, a
// CycloneDX SBOM per binary — and `go install` of the module path.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, startBridge, startAgent } from '../lib/bridge.js';

const RELEASE = path.join(REPO_ROOT, 'deploy', 'release.sh');
const VERSION = 'v0.0.0-test.1';
const EPOCH = '1700000000';

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20, ...opts });
  return { code: r.status, out: (r.stdout ?? '') + (r.stderr ?? ''), stdout: r.stdout ?? '' };
}

function release(dist, { cwd = REPO_ROOT, targets, gocache } = {}) {
  const env = { ...process.env, DIST: dist, VERSION, SOURCE_DATE_EPOCH: EPOCH, TARGETS: targets };
  if (gocache) env.GOCACHE = gocache;
  const r = sh('bash', [path.join(cwd, 'deploy', 'release.sh')], { cwd, env });
  assert.equal(r.code, 0, r.out);
  return r;
}

function sums(dist) {
  const out = {};
  for (const line of fs.readFileSync(path.join(dist, 'SHA256SUMS'), 'utf8').trim().split('\n')) {
    const [sum, name] = line.split(/\s+/);
    out[name] = sum;
  }
  return out;
}

describe('make release', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sx-release-'));
  const dist = path.join(tmp, 'dist');
  const name = (osArch) => `sentinelx-mcp_${VERSION}_${osArch}`;
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  before(() => { release(dist, { targets: 'linux/amd64 linux/arm64 darwin/arm64' }); }, { timeout: 900_000 });

  test('passes bash -n (and shellcheck when installed)', () => {
    assert.equal(spawnSync('bash', ['-n', RELEASE]).status, 0);
    if (spawnSync('bash', ['-c', 'command -v shellcheck']).status === 0) {
      const r = sh('shellcheck', [RELEASE]);
      assert.equal(r.code, 0, r.out);
    }
  });

  test('SHA256SUMS covers every tarball and SBOM and verifies', () => {
    const names = Object.keys(sums(dist)).sort();
    const want = [];
    for (const t of ['darwin_arm64', 'linux_amd64', 'linux_arm64']) want.push(`${name(t)}.cdx.json`, `${name(t)}.tar.gz`);
    assert.deepEqual(names, want.sort());
    const r = sh('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dist });
    assert.equal(r.code, 0, r.out);
  });

  test('tarballs hold a static binary for their platform, install.sh and the unit, owned by 0:0 at the commit time', () => {
    const x = path.join(tmp, 'x');
    fs.mkdirSync(x);
    const listing = sh('tar', ['-tzvf', path.join(dist, `${name('linux_amd64')}.tar.gz`)]).stdout;
    for (const line of listing.trim().split('\n')) {
      assert.match(line, /\s0\/0\s/, line);
      assert.match(line, /2023-11-1[45] /, line); // EPOCH, in whatever local zone tar prints
    }
    for (const f of ['sentinelx-mcp', 'LICENSE', 'README.md', 'deploy/install.sh', 'deploy/sentinelx-mcp.service', 'deploy/sentinelx-mcp.env.example']) {
      assert.ok(listing.includes(`${name('linux_amd64')}/${f}`), `${f} missing:\n${listing}`);
    }
    for (const [t, want] of [['linux_amd64', /ELF 64-bit.*x86-64.*statically linked/], ['linux_arm64', /ELF 64-bit.*ARM aarch64.*statically linked/], ['darwin_arm64', /Mach-O 64-bit.*arm64/]]) {
      assert.equal(sh('tar', ['-xzf', path.join(dist, `${name(t)}.tar.gz`), '-C', x]).code, 0);
      const bin = path.join(x, name(t), 'sentinelx-mcp');
      const info = sh('file', ['-b', bin]);
      if (info.code === 0) assert.match(info.stdout, want);
      const bi = sh('go', ['version', '-m', bin]);
      assert.equal(bi.code, 0, bi.out);
      assert.match(bi.stdout, /\bpath\s+github\.com\/pensados\/sentinelx-mcp\/cmd\/sentinelx-mcp\b/);
      assert.match(bi.stdout, /\bbuild\s+-trimpath=true\b/);
      assert.match(bi.stdout, /\bbuild\s+CGO_ENABLED=0\b/);
      assert.doesNotMatch(bi.stdout, /vcs\.revision/);
      assert.doesNotMatch(bi.stdout, new RegExp(REPO_ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'build path leaked into the binary');
    }
  });

  test('the version is stamped: `version` and /healthz report it', async () => {
    const bin = path.join(tmp, 'x', name('linux_amd64'), 'sentinelx-mcp');
    const v = sh(bin, ['version']);
    assert.equal(v.code, 0, v.out);
    assert.equal(v.stdout.trim(), `sentinelx-mcp ${VERSION}`);
    const agent = await startAgent({ token: 'agent-token', bin });
    const bridge = await startBridge({ issuer: 'http://127.0.0.1:1/issuer', agentUrl: agent.url, agentToken: 'agent-token', bin });
    try {
      const r = await fetch(`${bridge.baseUrl}/healthz`, { headers: { accept: 'application/json' } });
      assert.equal(r.status, 200);
      const body = await r.json();
      assert.equal(body.version, VERSION, JSON.stringify(body));
    } finally {
      await bridge.stop();
      await agent.stop();
    }
  });

  test('each SBOM is CycloneDX JSON for the stamped version and lists exactly the modules in that binary', () => {
    const sbom = JSON.parse(fs.readFileSync(path.join(dist, `${name('linux_amd64')}.cdx.json`), 'utf8'));
    assert.equal(sbom.bomFormat, 'CycloneDX');
    assert.match(sbom.specVersion, /^1\.\d+$/);
    assert.equal(sbom.metadata.component.name, 'github.com/pensados/sentinelx-mcp');
    assert.equal(sbom.metadata.component.version, VERSION);
    assert.equal(sbom.serialNumber, undefined, 'a serial number would make the SBOM differ between builds');
    const inSbom = sbom.components.map((c) => `${c.name}@${c.version}`).sort();
    const bi = sh('go', ['version', '-m', path.join(tmp, 'x', name('linux_amd64'), 'sentinelx-mcp')]).stdout;
    const inBin = [...bi.matchAll(/^\s+dep\s+(\S+)\s+(\S+)/gm)].map((m) => `${m[1]}@${m[2]}`).sort();
    assert.deepEqual(inSbom, inBin);
    assert.ok(inSbom.some((c) => c.startsWith('github.com/modelcontextprotocol/go-sdk@')));
    assert.ok(!inSbom.some((c) => c.startsWith('github.com/CycloneDX/')), 'the SBOM tool leaked into the product SBOM');
    for (const c of sbom.components) assert.match(c.purl, /^pkg:golang\//);
  });

  test('reproducible: another checkout path and an empty build cache give the same bytes', () => {
    const copy = path.join(tmp, 'elsewhere', 'src');
    fs.mkdirSync(copy, { recursive: true });
    // The tracked files plus uncommitted edits, as a second checkout would have them.
    const files = sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT }).stdout.split('\0').filter(Boolean);
    for (const f of files) {
      const src = path.join(REPO_ROOT, f);
      if (!fs.existsSync(src) || fs.statSync(src).isDirectory()) continue;
      fs.mkdirSync(path.dirname(path.join(copy, f)), { recursive: true });
      fs.copyFileSync(src, path.join(copy, f));
      fs.chmodSync(path.join(copy, f), fs.statSync(src).mode);
    }
    const dist2 = path.join(tmp, 'dist2');
    release(dist2, { cwd: copy, targets: 'linux/amd64', gocache: path.join(tmp, 'gocache') });
    const a = sums(dist);
    const b = sums(dist2);
    for (const f of [`${name('linux_amd64')}.tar.gz`, `${name('linux_amd64')}.cdx.json`]) {
      assert.equal(b[f], a[f], `${f} differs between the two builds`);
    }
  });
});

describe('go install', () => {
  test('go.mod declares the public module path and nothing that breaks `go install …@latest`', () => {
    const mod = fs.readFileSync(path.join(REPO_ROOT, 'go.mod'), 'utf8');
    assert.match(mod, /^module github\.com\/pensados\/sentinelx-mcp$/m);
    // go install pkg@version refuses modules whose go.mod has replace or exclude directives.
    assert.doesNotMatch(mod, /^\s*(replace|exclude)\b/m);
    const r = sh('go', ['list', '-f', '{{.Name}} {{.ImportPath}}', 'github.com/pensados/sentinelx-mcp/cmd/sentinelx-mcp'], { cwd: REPO_ROOT });
    assert.equal(r.code, 0, r.out);
    assert.equal(r.stdout.trim(), 'main github.com/pensados/sentinelx-mcp/cmd/sentinelx-mcp');
  });

  test('go install of the module path builds a working sentinelx-mcp', { timeout: 600_000 }, () => {
    const gobin = fs.mkdtempSync(path.join(os.tmpdir(), 'sx-gobin-'));
    try {
      const r = sh('go', ['install', 'github.com/pensados/sentinelx-mcp/cmd/sentinelx-mcp'], { cwd: REPO_ROOT, env: { ...process.env, GOBIN: gobin } });
      assert.equal(r.code, 0, r.out);
      const v = sh(path.join(gobin, 'sentinelx-mcp'), ['version']);
      assert.equal(v.code, 0, v.out);
      assert.match(v.stdout, /^sentinelx-mcp \S+\n$/);
    } finally {
      fs.rmSync(gobin, { recursive: true, force: true });
    }
  });
});
