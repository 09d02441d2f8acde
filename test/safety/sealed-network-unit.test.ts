import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planNetwork } from '../../harness/run/network-plan.ts';
import { observeNetwork, sealLauncher } from '../../harness/safety/sealed-network.ts';
import { BIN, runCli } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'bw-netdev-'));
const HEADER = 'Inter-|   Receive   |  Transmit\n face |bytes    packets|bytes    packets\n';
const procNetDev = (...names: string[]) => {
  const p = join(dir, `dev-${names.join('-') || 'none'}`);
  writeFileSync(p, HEADER + names.map((n) => `${n.padStart(6)}: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n`).join(''));
  return p;
};

describe('observeNetwork reads the namespace, not a flag', () => {
  it('loopback alone is sealed', () => {
    expect(observeNetwork(procNetDev('lo'))).toMatchObject({ mode: 'sealed', interfaces: ['lo'] });
  });
  it('any other interface, even a down one, is the host network', () => {
    expect(observeNetwork(procNetDev('lo', 'eth0'))).toMatchObject({ mode: 'host', interfaces: ['lo', 'eth0'] });
    expect(observeNetwork(procNetDev('lo', 'veth0'))).toMatchObject({ mode: 'host' });
  });
  it('no procfs proves nothing: host', () => {
    expect(observeNetwork(join(dir, 'absent')).mode).toBe('host');
  });
});

describe('planNetwork: what a run may send', () => {
  const sealed = observeNetwork(procNetDev('lo'));
  const host = observeNetwork(procNetDev('lo', 'eth0'));
  it('a sealed local stack sends off-host cases: they cannot leave', () => {
    expect(planNetwork({ provider: 'local', observed: sealed, tier: 'pr' })).toEqual({ mode: 'sealed', offHostTargets: 'sent' });
  });
  it('off a sealed network they are skipped by default, for every provider', () => {
    for (const provider of ['local', 'attach', 'compose'] as const) {
      expect(planNetwork({ provider, observed: host, tier: 'pr' })).toMatchObject({ mode: 'host', offHostTargets: 'skipped', reason: expect.any(String) });
    }
    // attach and compose are never sealed, even when the harness itself is.
    expect(planNetwork({ provider: 'attach', observed: sealed, tier: 'pr' }).mode).toBe('host');
  });
  it('the profile opts in for all tiers or per tier', () => {
    expect(planNetwork({ provider: 'attach', observed: host, tier: 'pr', ssrf: { offHostTargets: 'allow' } }).offHostTargets).toBe('allowed');
    expect(planNetwork({ provider: 'attach', observed: host, tier: 'nightly', ssrf: { offHostTargets: { nightly: 'allow' } } }).offHostTargets).toBe('allowed');
    expect(planNetwork({ provider: 'attach', observed: host, tier: 'pr', ssrf: { offHostTargets: { nightly: 'allow' } } }).offHostTargets).toBe('skipped');
  });
  it('the reason a local run is not sealed is carried through', () => {
    expect(planNetwork({ provider: 'local', observed: host, tier: 'pr', hostReason: 'no unshare' }).reason).toBe('no unshare');
  });
});

describe.skipIf(process.platform !== 'linux' || process.getuid?.() !== 0)('sealLauncher on this machine', () => {
  it('as root: a namespace with loopback alone, up', () => {
    const l = sealLauncher();
    expect(l).toMatchObject({ ok: true, how: 'unshare --net' });
    if (!l.ok) return;
    const out = execFileSync(l.prefix[0]!, [...l.prefix.slice(1), 'node', '-e', 'console.log(JSON.stringify(Object.keys(require("os").networkInterfaces())))']).toString();
    expect(JSON.parse(out)).toEqual(['lo']);
  });

  it('as an unprivileged user: the same, through user namespaces, and the command keeps its own uid', (ctx) => {
    let user = '';
    try {
      user = execFileSync('id', ['-un', 'breakwater']).toString().trim();
    } catch {
      ctx.skip('no unprivileged `breakwater` user to try (`breakwater setup` makes it)');
    }
    const out = execFileSync('runuser', ['-u', user, '--', process.execPath, BIN, 'sealed', '--', 'sh', '-c', 'id -un; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "']).toString();
    expect(out.trim().split('\n')).toEqual([user, 'lo']);
  });
});

describe('where no namespace can be made, the launcher says why in one line', () => {
  it('no unshare: names the package to install', () => {
    expect(sealLauncher({ unshare: join(dir, 'no-such-unshare') })).toEqual({ ok: false, reason: 'unshare is not installed (Debian package util-linux)' });
  });
  it('a namespace refused: the tool\'s own last line, and what to do', () => {
    const refusing = join(dir, 'refusing-unshare');
    writeFileSync(refusing, '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n', { mode: 0o755 });
    const l = sealLauncher({ unshare: refusing, uid: 1000 });
    expect(l).toMatchObject({ ok: false, reason: expect.stringMatching(/^a network namespace could not be made: unshare: unshare failed: Operation not permitted \(run as root, or allow unprivileged user namespaces\)$/) });
  });
});

describe('breakwater sealed', () => {
  it('passes the exit code of the command through', async () => {
    const r = await runCli(['sealed', '--', 'sh', '-c', 'exit 7']);
    expect(r.code, r.stderr).toBe(7);
  });
  it('without a command: one line, exit 2', async () => {
    const r = await runCli(['sealed']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
