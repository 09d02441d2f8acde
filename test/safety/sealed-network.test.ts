import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { RunResult } from '../../harness/run/result.ts';
import { processesOfStack } from '../../harness/stack/managed-process.ts';
import { FETCHED_CONTENT_MARK } from '../../harness/stack/egress-fixtures.ts';
import { hasStackTrace, type CliResult } from '../helpers/cli.ts';
import { expectNothingLeft, stackDirs } from '../helpers/leftovers.ts';
import { canMakeTrapWorld, createTrapWorld, type TrapWorld } from '../helpers/trap-world.ts';

/**
 * The sealed network, proven from outside: the harness runs in a trap world
 * (test/helpers/trap-world.ts) whose only way out is a counted veth into a
 * namespace holding the metadata, private and CGNAT addresses. A flawed SSRF
 * guard run sealed is caught and the trap receives nothing; the same target
 * on the world's network with off-host cases allowed does reach the trap, so
 * the counter can see an escape. Each test gets a fresh world, so that no
 * late packet of one run (a neighbour probe after the control's connections)
 * is counted against the next.
 */
const can = canMakeTrapWorld();
let world: TrapWorld;

beforeEach(() => {
  if (can) world = createTrapWorld();
});
afterEach(() => world?.destroy());

interface WorldRun {
  cli: CliResult;
  run: RunResult;
  out: string;
  /** Packets the trap received during the run. */
  escaped: number;
}

async function runInWorld(flaw: string, extra: string[] = []): Promise<WorldRun> {
  const out = mkdtempSync(join(tmpdir(), 'bw-sealed-'));
  const id = `sealed-${randomBytes(4).toString('hex')}`;
  const before = world.trapPackets();
  const { child, done } = world.spawnCli(['run', '--tier', 'pr', '--suite', 'ssrf', '--out', out, '--json', ...extra], { BREAKWATER_RUN_ID: id, TARGET_FLAWS: flaw });
  const killer = setTimeout(() => child.kill('SIGKILL'), 150_000);
  const cli = await done;
  clearTimeout(killer);
  const escaped = world.trapPackets() - before;
  const runJson = join(out, 'run.json');
  if (!existsSync(runJson)) throw new Error(`no run.json (exit ${cli.code}): ${cli.stderr.slice(-800)}`);
  await expectNothingLeft(id, JSON.parse(readFileSync(join(out, 'stack.json'), 'utf8')));
  return { cli, run: JSON.parse(readFileSync(runJson, 'utf8')) as RunResult, out, escaped };
}

const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
const summary = (r: WorldRun) => `exit ${r.cli.code}, ${r.escaped} packet(s) to the trap, network ${JSON.stringify(r.run.network)}; findings: ${r.run.findings.map((f) => `${f.check} ${f.subject}`).join(' | ') || 'none'}\n${r.cli.stderr.slice(-600)}`;

describe.skipIf(!can)('the sealed network (trap world: root and iproute2)', () => {
  test.each([
    ['ssrf-no-guard', 'ssrf.canary-hit'],
    ['ssrf-follow-redirect', 'ssrf.canary-hit'],
    ['ssrf-loopback-only', 'ssrf.not-blocked'],
  ])('%s: caught as %s, and not one packet leaves the machine', async (flaw, check) => {
    const r = await runInWorld(flaw);
    expect(r.run.network, summary(r)).toEqual({ mode: 'sealed', offHostTargets: 'sent' });
    expect(r.run.findings.some((f) => f.check === check), summary(r)).toBe(true);
    expect(r.cli.code, summary(r)).toBe(1);
    expect(r.escaped, summary(r)).toBe(0);
    // What the endpoint fetched (the fixtures' pages carry the mark in their title) is in no artifact.
    const holding = files(r.out).filter((f) => readFileSync(f, 'utf8').includes(FETCHED_CONTENT_MARK));
    expect(holding, 'artifacts holding fetched content').toEqual([]);
  }, 200_000);

  test('ssrf-loopback-only: every off-host case is a finding when sealed (the addresses the guard forgot)', async () => {
    const r = await runInWorld('ssrf-loopback-only');
    const subjects = r.run.findings.filter((f) => f.check === 'ssrf.not-blocked').map((f) => f.subject);
    for (const name of ['metadata 169.254.169.254', 'private 10.0.0.1', 'private 192.168.0.1', 'private 172.16.0.1', 'CGNAT 100.64.0.1']) {
      expect(subjects, summary(r)).toContain(`link-preview ${name}`);
    }
    expect(r.escaped, summary(r)).toBe(0);
  }, 200_000);

  test('control: off the sealed network with off-host cases allowed, the trap does see the target connect', async () => {
    const r = await runInWorld('ssrf-loopback-only', ['--network', 'host', '--config', 'test/fixtures/configs/offhost-allowed.config.ts']);
    expect(r.run.network, summary(r)).toMatchObject({ mode: 'host', offHostTargets: 'allowed' });
    expect(r.run.findings.some((f) => f.check === 'ssrf.not-blocked'), summary(r)).toBe(true);
    expect(r.escaped, summary(r)).toBeGreaterThan(0);
  }, 200_000);

  test('off the sealed network without an opt-in: off-host cases are skipped with the reason, never sent', async () => {
    const r = await runInWorld('ssrf-loopback-only', ['--network', 'host']);
    expect(r.run.network, summary(r)).toEqual({ mode: 'host', offHostTargets: 'skipped', reason: '--network host was given' });
    const offHost = r.run.checks.find((c) => c.name.includes('metadata addresses are refused'));
    expect(offHost, summary(r)).toMatchObject({ state: 'skipped', note: expect.stringMatching(/not sent: the network is not sealed/) });
    expect(r.escaped, summary(r)).toBe(0);
  }, 200_000);

  test('Ctrl-C reaches the sealed run through the CLI that started it: exit 130, nothing left behind', async () => {
    const { child, done, out, id } = await startedRunInWorld();
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    expect(hasStackTrace(r.stderr), r.stderr).toBe(false);
    expect(existsSync(join(out, 'run.json')), 'an interrupted run wrote a report').toBe(false);
    await expectNothingLeft(id, JSON.parse(readFileSync(join(out, 'stack.json'), 'utf8')));
  }, 120_000);

  test('a killed CLI: the sealed run notices that its parent is gone, stops its stack and leaves nothing behind', async () => {
    const { child, done, out, id } = await startedRunInWorld();
    child.kill('SIGKILL');
    await done;
    await waitFor(() => processesOfStack(id).length === 0 && stackDirs(id).length === 0, 20_000);
    await expectNothingLeft(id, JSON.parse(readFileSync(join(out, 'stack.json'), 'utf8')));
  }, 120_000);
});

/** A CLI run in the world whose (sealed) stack is up: its stack.json exists. */
async function startedRunInWorld() {
  const out = mkdtempSync(join(tmpdir(), 'bw-sealed-sig-'));
  const id = `sealed-sig-${randomBytes(3).toString('hex')}`;
  const { child, done } = world.spawnCli(['run', '--tier', 'pr', '--suite', 'ssrf', '--out', out], { BREAKWATER_RUN_ID: id });
  await waitFor(() => existsSync(join(out, 'stack.json')), 60_000);
  return { child, done, out, id };
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
