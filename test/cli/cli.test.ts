import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { errorLines, hasStackTrace, runCli, spawnCli } from '../helpers/cli.ts';
import { expectNothingLeft } from '../helpers/leftovers.ts';
import { eventually } from '../helpers/timing.ts';

const tmpOut = () => mkdtempSync(join(tmpdir(), 'bw-cli-out-'));
const runId = (tag: string) => `cli-${tag}-${randomBytes(3).toString('hex')}`;

/** Every file under a dir, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
}

describe('bad input: one line, exit 2, no stack trace', () => {
  test.each([
    [['run', '--bogus'], /unknown option '--bogus'/],
    [['run', '--tier', 'weekly'], /argument 'weekly' is invalid\. Allowed choices are pr, nightly, drill/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['run', '--config', 'nope.config.ts'], /no config at .*nope\.config\.ts; create breakwater\.config\.ts or pass --config <file>/],
    [['run', '--config', 'test/fixtures/configs/bad-profile.config.ts'], /invalid target profile profile\.stack\.links\[3\]\.to: names no service \(services: postgres, redis, app\); fix the field and run again \[BW_PROFILE_INVALID\]/],
    [['run', '--config', 'test/fixtures/configs/not-a-config.config.ts'], /must `export default defineConfig\(\{\.\.\.\}\)`/],
    [['run', '--scenario', 'no-such-scenario'], /no scenario "no-such-scenario" in the pr tier/],
    [['run', '--tier', 'drill', '--drill', 'no-such-drill'], /no drill "no-such-drill" in the drill tier \(drills: rollback, backup-restore, incident\)/],
  ])('breakwater %j', async (args, message) => {
    const r = await runCli(args, { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(hasStackTrace(r.stderr + r.stdout)).toBe(false);
  });
});

describe('attach', () => {
  let listener: Server;
  let port = 0;
  let connections = 0;
  beforeAll(async () => {
    listener = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    port = (listener.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => listener.close(() => r())));

  test('a host outside the allowlist is refused before the first packet', async () => {
    const r = await runCli(['run', '--config', 'test/fixtures/configs/staging-only.config.ts', '--attach', `http://127.0.0.1:${port}`], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/attach URL host "127\.0\.0\.1" is not on the allowlist \(staging\.example\.test\).*\[BW_TARGET_NOT_ALLOWED\]/)]);
    expect(connections).toBe(0);
  });

  test('an allowlisted but unreachable target fails with exit 3 and one line', async () => {
    const r = await runCli(['run', '--attach', 'http://127.0.0.1:9'], { timeoutMs: 30_000 });
    expect(r.code).toBe(3);
    expect(errorLines(r.stderr).at(-1)).toMatch(/attached target http:\/\/127\.0\.0\.1:9 is not healthy .*\[BW_TARGET_UNREACHABLE\]/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });
});

describe('doctor', () => {
  test('lists every tool with its version and path', async () => {
    const r = await runCli(['doctor', '--json'], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    const { tools } = JSON.parse(r.stdout) as { tools: { name: string; found: boolean; version?: string; path?: string }[] };
    expect(tools.map((t) => t.name)).toEqual(['node', 'postgres', 'redis-server', 'toxiproxy-server', 'k6', 'docker']);
    for (const name of ['node', 'postgres', 'redis-server', 'toxiproxy-server', 'k6']) {
      const t = tools.find((x) => x.name === name)!;
      expect(t, name).toMatchObject({ found: true, version: expect.stringMatching(/^\d+\.\d+/), path: expect.any(String) });
    }
    expect(tools.find((t) => t.name === 'toxiproxy-server')!.version).toBe('2.12.0');
    expect(tools.find((t) => t.name === 'k6')!.version).toBe('1.8.1');
  });
});

describe('run against the reference stack', () => {
  test('--json prints the summary, writes run.json, and no artifact holds a secret', async () => {
    const out = tmpOut();
    const id = runId('json');
    const r = await runCli(['run', '--tier', 'pr', '--out', out, '--json'], { env: { BREAKWATER_RUN_ID: id } });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ verdict: 'pass', out, evidence: join(out, 'evidence.dsse.json'), findings: [], durationMs: expect.any(Number) });
    // The PR tier's chaos scenario measures the SLOs before, during and after its faults, and its recovery time.
    const measurements = summary.measurements as Array<{ window: string; pass: boolean }>;
    expect(measurements.map((m) => m.window)).toContain('db-reset-peer:recovery');
    expect(measurements.every((m) => m.pass)).toBe(true);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run).toMatchObject({ runId: id, tier: 'pr', verdict: 'pass', target: { name: 'reference-chat', provider: 'local' } });
    expect(run.checks.length).toBeGreaterThan(0);
    // Suites skip what a profile does not declare (with a reason); nothing may fail.
    expect(run.checks.filter((c: { state: string }) => c.state === 'failed')).toEqual([]);
    expect(run.checks.filter((c: { state: string }) => c.state === 'passed').length).toBeGreaterThan(0);
    for (const f of files(out)) expect(readFileSync(f, 'utf8'), f).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\./);
    await expectNothingLeft(id, JSON.parse(readFileSync(join(out, 'stack.json'), 'utf8')));
  });

  test('TARGET_FLAWS passes through to the target (an unknown switch stops the start, exit 3)', async () => {
    const id = runId('flaws');
    const r = await runCli(['run', '--out', tmpOut()], { env: { BREAKWATER_RUN_ID: id, TARGET_FLAWS: 'no-such-flaw' } });
    expect(r.code).toBe(3);
    expect(errorLines(r.stderr).at(-1)).toMatch(/service "app" exited during start \(code 2\): reference-target: unknown flaw switch "no-such-flaw"/);
    await expectNothingLeft(id);
  });

  test('killing the app in the middle of a suite: the run finishes and reports it', async () => {
    const out = tmpOut();
    const id = runId('kill');
    const { done } = spawnCli(['run', '--config', 'test/fixtures/configs/slow-suite.config.ts', '--out', out, '--json'], { env: { BREAKWATER_RUN_ID: id } });
    const stackFile = join(out, 'stack.json');
    expect(await eventually(() => existsSync(stackFile), 60_000)).toBe(true);
    const info = JSON.parse(readFileSync(stackFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 4000));
    process.kill(info.services.app.pid, 'SIGKILL');
    const r = await done;
    expect(r.code).toBe(3);
    const summary = JSON.parse(r.stdout);
    expect(summary.verdict).toBe('error');
    expect(summary.reasons).toEqual(expect.arrayContaining([expect.stringMatching(/service app died during the run/), expect.stringMatching(/the target keeps answering/)]));
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.incidents).toEqual([expect.objectContaining({ service: 'app', signal: 'SIGKILL', unexpected: true })]);
    await expectNothingLeft(id, info);
  });
});
