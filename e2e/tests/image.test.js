// The container image (Containerfile, deploy/image.sh = make image), built
// for real with podman when it is installed — offline, from this machine's
// Go toolchain and module cache, never from a registry. `podman run` is
// refused on machines whose rules forbid setrlimit, so the image is tested
// by exporting its root filesystem and running the binary from it under
// chroot as the image's user, plus checks on the image config.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, freePort, sleep, startAgent } from '../lib/bridge.js';

const have = (cmd) => spawnSync('bash', ['-c', `command -v ${cmd}`]).status === 0;
const canBuild = have('podman') && have('unshare') && fs.existsSync('/bin/busybox') && process.getuid?.() === 0;
const VERSION = 'v0.0.0-image.1';
const tag = `localhost/sentinelx-mcp-e2e:${crypto.randomBytes(4).toString('hex')}`;
const builder = `localhost/sentinelx-mcp-gobuilder-e2e:${crypto.randomBytes(4).toString('hex')}`;

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 900_000, maxBuffer: 256 << 20, ...opts });
  return { code: r.status, out: (r.stdout ?? '') + (r.stderr ?? ''), stdout: r.stdout ?? '' };
}

describe('container image', { skip: canBuild ? false : 'needs root, podman and busybox-static (.ci/run installs them)' }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sx-image-'));
  const rootfs = path.join(tmp, 'rootfs');
  let buildLog = '';
  let config;
  let entries;

  before(() => {
    // In a network namespace of its own, with no interface up: any registry
    // pull or module download would fail the build.
    const r = sh('unshare', ['--net', 'bash', path.join(REPO_ROOT, 'deploy', 'image.sh')], {
      cwd: REPO_ROOT,
      env: { ...process.env, IMAGE: tag, BUILDER_IMAGE: builder, VERSION, SOURCE_DATE_EPOCH: '1700000000' },
    });
    buildLog = r.out;
    assert.equal(r.code, 0, r.out);
    config = JSON.parse(sh('podman', ['image', 'inspect', tag]).stdout)[0];
    const ctr = sh('podman', ['create', tag]).stdout.trim();
    const tar = path.join(tmp, 'rootfs.tar');
    try {
      assert.equal(sh('podman', ['export', '-o', tar, ctr]).code, 0);
    } finally {
      sh('podman', ['rm', ctr]);
    }
    fs.mkdirSync(rootfs);
    assert.equal(sh('tar', ['-xpf', tar, '-C', rootfs]).code, 0);
    entries = sh('tar', ['-tvf', tar]).stdout.trim().split('\n');
  }, { timeout: 900_000 });

  after(() => {
    sh('podman', ['rmi', '-f', tag]);
    sh('podman', ['rmi', '-f', builder]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('built from local files only, without a network: --pull=never, a local builder, a scratch final stage', () => {
    assert.match(buildLog, /FROM localhost\/sentinelx-mcp-gobuilder-e2e:\w+ AS build/);
    assert.doesNotMatch(buildLog, /Trying to pull|docker\.io|quay\.io|Copying blob .* from/i);
    const script = fs.readFileSync(path.join(REPO_ROOT, 'deploy', 'image.sh'), 'utf8');
    assert.match(script, /build --pull=never /);
    const cf = fs.readFileSync(path.join(REPO_ROOT, 'Containerfile'), 'utf8');
    const froms = [...cf.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(froms, ['${GO_IMAGE}', 'scratch']);
    // The final image is the one COPY layer of the scratch stage, nothing inherited.
    assert.equal(config.RootFS.Layers.length, 1, JSON.stringify(config.RootFS));
  });

  test('config: non-root user, the binary as entrypoint, port 8098, no healthcheck, all-address bind', () => {
    const c = config.Config;
    assert.equal(c.User, '65532:65532');
    assert.deepEqual(c.Entrypoint, ['/sentinelx-mcp']);
    assert.deepEqual(c.Cmd, ['serve']);
    assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ['8098/tcp']);
    assert.equal(c.Healthcheck, undefined);
    assert.ok(c.Env.includes('MCP_HOST=0.0.0.0'), c.Env.join(' '));
    assert.equal(config.Created.slice(0, 10), '2023-11-14', 'created time is SOURCE_DATE_EPOCH');
  });

  test('filesystem: the binary, the CA bundle and /tmp — no shell, nothing else; small', () => {
    const files = entries.filter((l) => !l.startsWith('d')).map((l) => l.split(/\s+/).pop()).sort();
    assert.deepEqual(files, ['etc/ssl/certs/ca-certificates.crt', 'sentinelx-mcp']);
    for (const shell of ['bin/sh', 'bin/busybox', 'bin/bash', 'usr/bin/env']) {
      assert.ok(!fs.existsSync(path.join(rootfs, shell)), `${shell} in the image`);
    }
    assert.ok((fs.statSync(path.join(rootfs, 'tmp')).mode & 0o1777) === 0o1777, '/tmp is not 1777');
    assert.ok(config.Size < 40 * 1024 * 1024, `image is ${config.Size} bytes`);
  });

  test('the binary runs from the image as its user: version, then serve with /healthz and /readyz', async () => {
    // chroot execs the binary in place, so signals reach it directly.
    const chroot = (args) => ['--userspec=65532:65532', rootfs, '/sentinelx-mcp', ...args];
    const v = sh('chroot', chroot(['version']));
    assert.equal(v.code, 0, v.out);
    assert.equal(v.stdout.trim(), `sentinelx-mcp ${VERSION}`);

    const agent = await startAgent({ token: 'agent-token' });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const { spawn } = await import('node:child_process');
    // Loopback, not the image's 0.0.0.0: the host's network is shared here.
    const env = {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin', MCP_HOST: '127.0.0.1', MCP_PORT: String(port), RESOURCE_URL: base,
      OIDC_ISSUER: 'http://127.0.0.1:1/issuer', SENTINELX_URL: agent.url, SENTINELX_TOKEN: 'agent-token',
    };
    const child = spawn('chroot', chroot(['serve']), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    try {
      let health;
      for (let i = 0; i < 200 && !health; i++) {
        try {
          const r = await fetch(`${base}/healthz`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(1000) });
          if (r.status === 200) health = await r.json();
        } catch { await sleep(100); }
      }
      assert.ok(health, `no /healthz:\n${out}`);
      assert.equal(health.version, VERSION);
      const ready = await fetch(`${base}/readyz`, { headers: { accept: 'application/json' } });
      const body = await ready.json();
      // The agent answers from inside the chroot; the IdP is down on purpose.
      assert.equal(body.checks.upstream.ok, true, JSON.stringify(body));
      assert.equal(body.checks.token_keys.ok, false, JSON.stringify(body));
      // The process runs as the image's user, rooted in the image.
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
      assert.equal(fs.readlinkSync(`/proc/${child.pid}/root`), rootfs);
    } finally {
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
      await agent.stop();
    }
  });
});
