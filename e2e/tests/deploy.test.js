// deploy/: install.sh into a temporary root (DESTDIR) and as --dry-run, the
// env example against `sentinelx-mcp help`, and the systemd unit through
// systemd-analyze (verify, and the security exposure score) when available.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildBinary, REPO_ROOT } from '../lib/bridge.js';

const DEPLOY = path.join(REPO_ROOT, 'deploy');
const INSTALL = path.join(DEPLOY, 'install.sh');
const UNIT = path.join(DEPLOY, 'sentinelx-mcp.service');

const OLD_ENV = `# /etc/sentinelx-core-mcp/sentinelx-core-mcp.env of the Python bridge
MCP_PORT=8098
SENTINELX_URL=http://127.0.0.1:8091
SENTINEL_TOKEN=old-agent-token-123
OIDC_ISSUER=https://auth.example.com/realms/sentinelx
OIDC_JWKS_URI=https://auth.example.com/realms/sentinelx/protocol/openid-connect/certs
OIDC_EXPECTED_AUDIENCE=
RESOURCE_URL=https://sentinelx.example.com
AUTH_DEBUG=false
PYTHONUNBUFFERED=1
`;

function have(cmd) {
  return spawnSync('bash', ['-c', `command -v ${cmd}`]).status === 0;
}

function install(args, destdir) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp' };
  if (destdir !== undefined) env.DESTDIR = destdir;
  const r = spawnSync('bash', [INSTALL, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** path → octal mode of every file and directory below root. */
function tree(root) {
  const out = {};
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      out['/' + path.relative(root, p)] = (fs.statSync(p).mode & 0o7777).toString(8);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

/** KEY=VALUE lines of an env file (comments skipped). */
function envVars(text) {
  const vars = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) vars[m[1]] = m[2];
  }
  return vars;
}

describe('deploy/install.sh', () => {
  let bin;
  const roots = [];
  const mkroot = () => {
    const r = fs.mkdtempSync(path.join(os.tmpdir(), 'sx-root-'));
    roots.push(r);
    return r;
  };
  before(async () => { bin = await buildBinary(); }, { timeout: 300_000 });
  after(() => { for (const r of roots) fs.rmSync(r, { recursive: true, force: true }); });

  test('passes bash -n (and shellcheck when installed)', () => {
    assert.equal(spawnSync('bash', ['-n', INSTALL]).status, 0);
    if (have('shellcheck')) {
      const r = spawnSync('shellcheck', [INSTALL], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout);
    }
  });

  test('--dry-run prints every step and changes nothing', () => {
    const root = mkroot();
    fs.mkdirSync(path.join(root, 'etc/sentinelx-core-mcp'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/sentinelx-core-mcp/sentinelx-core-mcp.env'), OLD_ENV);
    const before = tree(root);
    const r = install(['--dry-run', '--binary', bin], root);
    assert.equal(r.code, 0, r.out);
    for (const want of [
      `would run: install -m 0755 ${bin} ${root}/usr/local/bin/sentinelx-mcp.new`,
      `would run: install -m 0644 ${UNIT} ${root}/etc/systemd/system/sentinelx-mcp.service`,
      `${root}/etc/sentinelx-mcp/sentinelx-mcp.env`,
      'would set: MCP_PORT SENTINELX_URL SENTINELX_TOKEN',
    ]) assert.ok(r.out.includes(want), `dry run mentions ${want}:\n${r.out}`);
    assert.ok(!r.out.includes('old-agent-token-123'), 'the dry run does not print secrets');
    assert.deepEqual(tree(root), before, 'nothing changed under DESTDIR');
  });

  test('--dry-run without DESTDIR works unprivileged and calls nothing', () => {
    const r = install(['--dry-run', '--binary', bin]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /would run: install -m 0755 .* \/usr\/local\/bin\/sentinelx-mcp\.new/);
    assert.match(r.out, /would run: mv -f \/usr\/local\/bin\/sentinelx-mcp\.new \/usr\/local\/bin\/sentinelx-mcp/);
  });

  test('DESTDIR install: files and modes, env migrated from the old bridge, idempotent, env never overwritten', () => {
    const root = mkroot();
    fs.mkdirSync(path.join(root, 'etc/sentinelx-core-mcp'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/sentinelx-core-mcp/sentinelx-core-mcp.env'), OLD_ENV);

    const r1 = install(['--binary', bin], root);
    assert.equal(r1.code, 0, r1.out);
    assert.match(r1.out, /not calling systemctl/);
    const t = tree(root);
    const want = {
      '/usr/local/bin/sentinelx-mcp': '755',
      '/etc/systemd/system/sentinelx-mcp.service': '644',
      '/etc/sentinelx-mcp': '750',
      '/etc/sentinelx-mcp/sentinelx-mcp.env': '640',
      '/etc/sentinelx-mcp/sentinelx-mcp.env.example': '644',
      '/etc/logrotate.d/sentinelx-mcp': '644',
    };
    for (const [p, mode] of Object.entries(want)) assert.equal(t[p], mode, `${p} mode (tree: ${JSON.stringify(t)})`);
    assert.ok(!('/usr/local/bin/sentinelx-mcp.new' in t), 'no leftover .new');
    assert.deepEqual(fs.readFileSync(path.join(root, 'usr/local/bin/sentinelx-mcp')), fs.readFileSync(bin));
    assert.equal(fs.readFileSync(path.join(root, 'etc/systemd/system/sentinelx-mcp.service'), 'utf8'), fs.readFileSync(UNIT, 'utf8'));

    const envPath = path.join(root, 'etc/sentinelx-mcp/sentinelx-mcp.env');
    const migrated = fs.readFileSync(envPath, 'utf8');
    const vars = envVars(migrated);
    assert.equal(vars.SENTINELX_TOKEN, 'old-agent-token-123', migrated);
    assert.ok(!('SENTINEL_TOKEN' in vars), 'SENTINEL_TOKEN renamed');
    assert.equal(vars.OIDC_ISSUER, 'https://auth.example.com/realms/sentinelx');
    assert.equal(vars.OIDC_JWKS_URI, 'https://auth.example.com/realms/sentinelx/protocol/openid-connect/certs');
    assert.equal(vars.RESOURCE_URL, 'https://sentinelx.example.com');
    assert.equal(vars.MCP_PORT, '8098');
    assert.ok(!('PYTHONUNBUFFERED' in vars), 'unknown variables are commented out');
    assert.match(migrated, /^# not used by sentinelx-mcp: PYTHONUNBUFFERED=1$/m);

    // Second run: the operator's edits survive, everything else is refreshed.
    fs.writeFileSync(envPath, migrated + 'RATE_LIMIT=5\n');
    fs.chmodSync(envPath, 0o640);
    fs.writeFileSync(path.join(root, 'etc/systemd/system/sentinelx-mcp.service'), '# stale\n');
    const r2 = install(['--binary', bin], root);
    assert.equal(r2.code, 0, r2.out);
    assert.match(r2.out, /kept .*sentinelx-mcp\.env/);
    assert.equal(fs.readFileSync(envPath, 'utf8'), migrated + 'RATE_LIMIT=5\n', 'env untouched on upgrade');
    assert.equal(fs.readFileSync(path.join(root, 'etc/systemd/system/sentinelx-mcp.service'), 'utf8'), fs.readFileSync(UNIT, 'utf8'), 'unit refreshed');
    assert.deepEqual(tree(root), t, 'same files and modes after the second run');

    // Uninstall keeps the configuration; --purge removes it.
    const u = install(['--uninstall'], root);
    assert.equal(u.code, 0, u.out);
    assert.ok(!fs.existsSync(path.join(root, 'usr/local/bin/sentinelx-mcp')));
    assert.ok(!fs.existsSync(path.join(root, 'etc/systemd/system/sentinelx-mcp.service')));
    assert.ok(fs.existsSync(envPath), 'config kept without --purge');
    const p = install(['--uninstall', '--purge'], root);
    assert.equal(p.code, 0, p.out);
    assert.ok(!fs.existsSync(path.join(root, 'etc/sentinelx-mcp')), 'config removed with --purge');
  });

  test('fresh DESTDIR install without an old config: env from the example, mode 0640', () => {
    const root = mkroot();
    const r = install(['--binary', bin], root);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /next: edit .*sentinelx-mcp\.env/);
    assert.match(r.out, /check it: \/usr\/local\/bin\/sentinelx-mcp doctor --env-file \/etc\/sentinelx-mcp\/sentinelx-mcp\.env/);
    const envPath = path.join(root, 'etc/sentinelx-mcp/sentinelx-mcp.env');
    assert.equal((fs.statSync(envPath).mode & 0o777).toString(8), '640');
    assert.equal(fs.readFileSync(envPath, 'utf8'), fs.readFileSync(path.join(DEPLOY, 'sentinelx-mcp.env.example'), 'utf8'));
  });

  test('bad options fail with a message', () => {
    const r = install(['--frobnicate'], mkroot());
    assert.equal(r.code, 2);
    assert.match(r.out, /unknown option --frobnicate/);
    const m = install(['--binary', '/nonexistent/sentinelx-mcp'], mkroot());
    assert.notEqual(m.code, 0);
    assert.match(m.out, /no such file/);
  });
});

// A release tarball as deploy/release.sh lays it out, around the e2e binary
// (release.test.js checks release.sh itself).
function makeRelease(dir, bin, name = 'sentinelx-mcp_v9.9.9_linux_amd64') {
  const stage = path.join(dir, 'stage', name);
  fs.mkdirSync(path.join(stage, 'deploy'), { recursive: true });
  fs.copyFileSync(bin, path.join(stage, 'sentinelx-mcp'));
  fs.chmodSync(path.join(stage, 'sentinelx-mcp'), 0o755);
  for (const f of ['install.sh', 'sentinelx-mcp.service', 'sentinelx-mcp.env.example', 'sentinelx-mcp.logrotate', 'nginx.conf']) {
    fs.copyFileSync(path.join(DEPLOY, f), path.join(stage, 'deploy', f));
  }
  const tarball = path.join(dir, `${name}.tar.gz`);
  assert.equal(spawnSync('tar', ['-czf', tarball, '-C', path.join(dir, 'stage'), name]).status, 0);
  const sums = spawnSync('sha256sum', [`${name}.tar.gz`], { cwd: dir, encoding: 'utf8' }).stdout;
  fs.writeFileSync(path.join(dir, 'SHA256SUMS'), sums);
  return { tarball, stage };
}

describe('deploy/install.sh with a release', () => {
  let bin;
  const dirs = [];
  const mk = (p) => { const d = fs.mkdtempSync(path.join(os.tmpdir(), p)); dirs.push(d); return d; };
  before(async () => { bin = await buildBinary(); }, { timeout: 300_000 });
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  test('--tarball: checked against SHA256SUMS, its binary and unit installed', () => {
    const { tarball } = makeRelease(mk('sx-rel-'), bin);
    const root = mk('sx-root-');
    const r = install(['--tarball', tarball, '--no-start'], root);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /checked sentinelx-mcp_v9\.9\.9_linux_amd64\.tar\.gz against SHA256SUMS/);
    assert.ok(fs.readFileSync(path.join(root, 'usr/local/bin/sentinelx-mcp')).equals(fs.readFileSync(bin)));
    assert.ok(fs.existsSync(path.join(root, 'etc/systemd/system/sentinelx-mcp.service')));
    assert.ok(fs.existsSync(path.join(root, 'etc/sentinelx-mcp/sentinelx-mcp.env')));
  });

  test('--tarball refuses a tarball that does not match SHA256SUMS, and a non-release tarball', () => {
    const dir = mk('sx-rel-');
    const { tarball } = makeRelease(dir, bin);
    fs.appendFileSync(tarball, 'tampered');
    const r = install(['--tarball', tarball], mk('sx-root-'));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /does not match .*SHA256SUMS/);

    fs.copyFileSync(path.join(DEPLOY, 'nginx.conf'), path.join(dir, 'unlisted.tar.gz'));
    const u = install(['--tarball', path.join(dir, 'unlisted.tar.gz')], mk('sx-root-'));
    assert.equal(u.code, 1, u.out);
    assert.match(u.out, /unlisted\.tar\.gz is not listed in .*SHA256SUMS/);

    const junk = path.join(mk('sx-junk-'), 'junk.tar.gz');
    assert.equal(spawnSync('tar', ['-czf', junk, '-C', DEPLOY, 'nginx.conf']).status, 0);
    const j = install(['--tarball', junk], mk('sx-root-'));
    assert.equal(j.code, 1, j.out);
    assert.match(j.out, /is not a sentinelx-mcp release/);
    const both = install(['--tarball', junk, '--binary', bin], mk('sx-root-'));
    assert.equal(both.code, 2, both.out);
  });

  test('--tarball refuses another platform\'s binary on the live system', () => {
    const { tarball } = makeRelease(mk('sx-rel-'), bin, 'sentinelx-mcp_v9.9.9_linux_riscv64');
    const r = install(['--dry-run', '--tarball', tarball]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /is for linux\/riscv64, this host is linux\//);
  });

  test('install.sh run from an unpacked release installs the release\'s binary without Go', () => {
    const { stage } = makeRelease(mk('sx-rel-'), bin);
    const root = mk('sx-root-');
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/tmp', DESTDIR: root, GO: '/nonexistent/go' };
    const r = spawnSync('bash', [path.join(stage, 'deploy', 'install.sh'), '--no-start'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /from this release/);
    assert.ok(fs.readFileSync(path.join(root, 'usr/local/bin/sentinelx-mcp')).equals(fs.readFileSync(bin)));
  });
});

describe('deploy/sentinelx-mcp.env.example', () => {
  test('documents every variable `sentinelx-mcp help` lists, each with a comment', async () => {
    const bin = await buildBinary();
    const help = spawnSync(bin, ['help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    const names = [...help.stdout.matchAll(/^ {2}([A-Z][A-Z0-9_]+) +\S+/gm)].map((m) => m[1]).filter((n) => n !== 'VARIABLE');
    assert.ok(names.length >= 20, `parsed ${names.length} variables from help:\n${help.stdout}`);
    const example = fs.readFileSync(path.join(DEPLOY, 'sentinelx-mcp.env.example'), 'utf8');
    const lines = example.split('\n');
    for (const name of names) {
      const i = lines.findIndex((l) => new RegExp(`^#?${name}=`).test(l));
      assert.ok(i >= 0, `${name} missing from the env example`);
      let j = i - 1;
      while (j >= 0 && /^#?[A-Z][A-Z0-9_]*=/.test(lines[j])) j--; // grouped lines share one comment
      assert.ok(j >= 0 && /^# \S/.test(lines[j]), `${name} has a comment saying why`);
    }
    // Defaults shown in the example match the binary's.
    for (const m of help.stdout.matchAll(/^ {2}([A-Z][A-Z0-9_]+) +(\S+)/gm)) {
      const [, name, def] = m;
      if (def === '-' || name === 'VARIABLE') continue;
      const line = lines.find((l) => l.startsWith(`#${name}=`));
      if (line) assert.equal(line.slice(name.length + 2), def, `${name} default in the example`);
    }
  });
});

describe('deploy/sentinelx-mcp.service', { skip: have('systemd-analyze') ? false : 'systemd-analyze not installed' }, () => {
  let dir;
  before(async () => {
    const bin = await buildBinary();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sx-unit-'));
    // verify checks that ExecStart exists: point it at the built binary.
    fs.writeFileSync(path.join(dir, 'sentinelx-mcp.service'),
      fs.readFileSync(UNIT, 'utf8').replace('ExecStart=/usr/local/bin/sentinelx-mcp', `ExecStart=${bin}`));
  }, { timeout: 300_000 });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  test('systemd-analyze verify accepts it', () => {
    const r = spawnSync('systemd-analyze', ['verify', path.join(dir, 'sentinelx-mcp.service')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });

  test('systemd-analyze security rates its exposure at most 2.0', (t) => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', path.join(dir, 'sentinelx-mcp.service')], { encoding: 'utf8' });
    if (r.status !== 0 && /offline|unrecognized/i.test(r.stderr)) { t.skip('this systemd-analyze has no --offline'); return; }
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    t.diagnostic(`exposure ${m[1]}`);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} > 2.0:\n${r.stdout}`);
  });

  test('it is Type=notify with the hardening DESIGN asks for', () => {
    const unit = fs.readFileSync(UNIT, 'utf8');
    for (const d of [
      'Type=notify', 'EnvironmentFile=/etc/sentinelx-mcp/sentinelx-mcp.env', 'Restart=on-failure', 'NoNewPrivileges=yes',
      'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'PrivateDevices=yes', 'CapabilityBoundingSet=\n',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'SystemCallFilter=@system-service', 'MemoryDenyWriteExecute=yes',
      'ProtectKernelTunables=yes', 'ProtectKernelModules=yes', 'ProtectKernelLogs=yes', 'ProtectControlGroups=yes',
      'RestrictNamespaces=yes', 'LockPersonality=yes', 'RestrictRealtime=yes', 'RestrictSUIDSGID=yes', 'ProtectClock=yes',
      'ProtectHostname=yes', 'ProtectProc=invisible', 'ProcSubset=pid', 'UMask=0077', 'SystemCallArchitectures=native',
      'LogsDirectory=sentinelx-mcp',
    ]) assert.ok(unit.includes(d), `unit has ${JSON.stringify(d)}`);
  });

  test('it caps memory: MemoryHigh below MemoryMax, both above the binary\'s 256 MiB GOMEMLIMIT', () => {
    const unit = fs.readFileSync(UNIT, 'utf8');
    const mib = (name) => {
      const m = new RegExp(`^${name}=(\\d+)([KMG])$`, 'm').exec(unit);
      assert.ok(m, `unit sets ${name}= in K, M or G`);
      return Number(m[1]) * { K: 1 / 1024, M: 1, G: 1024 }[m[2]];
    };
    const high = mib('MemoryHigh');
    const hard = mib('MemoryMax');
    assert.ok(high > 256 && high < hard, `MemoryHigh ${high} MiB, MemoryMax ${hard} MiB`);
  });
});
