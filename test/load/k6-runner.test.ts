import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BreakwaterError } from '../../harness/errors.ts';
import { runK6, type K6Run, type K6RunOptions } from '../../harness/load/k6-runner.ts';
import { processesOfStack, STACK_ENV_MARKER } from '../../harness/stack/managed-process.ts';
import { startDelayServer, type DelayServer } from './fixtures/delay-server.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const SECRET = `bw-secret-${process.pid}-${Date.now()}`;

let server: DelayServer;
let dir: string;

beforeAll(async () => {
  server = await startDelayServer();
  dir = mkdtempSync(join(tmpdir(), 'bw-k6-runner-'));
});

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of k6 processes whose command line names this work dir (each run writes its outputs there). */
function k6ProcessesUnder(workDir: string): number[] {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return ps
    .split('\n')
    .filter((l) => l.includes(workDir) && /\bk6\b/.test(l) && !l.includes(' ps '))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

/** Runs k6 and collects the pids it reports starting. */
async function runCollectingPids(opts: Omit<K6RunOptions, 'onProgress'>): Promise<{ run: K6Run; pids: number[] }> {
  const pids: number[] = [];
  const run = await runK6({ ...opts, onProgress: (line) => pids.push(...[...line.matchAll(/started \(pid (\d+)\)/g)].map((m) => Number(m[1]))) });
  return { run, pids };
}

async function expectUsageError(promise: Promise<unknown>, mentions: string): Promise<BreakwaterError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BreakwaterError);
  const bw = err as BreakwaterError;
  expect(bw.code).toBe('BW_USAGE');
  expect(bw.message).not.toContain('\n');
  expect(bw.message).toContain(mentions);
  return bw;
}

describe('runK6 split over execution segments', () => {
  it('merges two runners into exactly the requests of one runner and one threshold verdict', async () => {
    // 10 iterations/s start at 0, 100, ..., 2000 ms; 2050 ms keeps the last start 50 ms clear of the end, so no
    // start races k6's end of duration and every run makes ceil(2050 / 100) = 21 iterations of one request each.
    const env = { TARGET_URL: server.url, RATE: '10', DURATION: '2050ms' };
    const [one, two] = await Promise.all([
      runCollectingPids({ script: join(FIXTURES, 'fixed-rate.ts'), env, workDir: join(dir, 'split-1') }),
      runCollectingPids({ script: join(FIXTURES, 'fixed-rate.ts'), env, workDir: join(dir, 'split-2'), runners: 2 }),
    ]);
    expect(one.pids).toHaveLength(1);
    expect(two.pids).toHaveLength(2);
    expect(one.run.samples('dropped_iterations')).toHaveLength(0);
    expect(two.run.samples('dropped_iterations')).toHaveLength(0);
    expect(one.run.http).toHaveLength(21);
    expect(two.run.http).toHaveLength(21);
    expect(two.run.samples('iterations')).toHaveLength(21);
    // Iterations 0, 4, 8, ... go to /slow, whichever process runs them.
    expect(two.run.http.filter((s) => s.name === 'slow')).toHaveLength(6);
    // Each process ran its half and judged only that half; the harness judges the merged points once.
    expect(two.run.summaryThresholds).toHaveLength(2);
    expect(two.run.exitCodes).toEqual([99, 99]);
    expect(two.run.thresholds.map((t) => [t.metric, t.expression, t.ok])).toEqual(one.run.thresholds.map((t) => [t.metric, t.expression, t.ok]));
    expect(two.run.thresholds.find((t) => t.metric === 'http_reqs{scenario:fixed_rate}' && t.expression === 'count>=1')?.observed).toBe(21);
    expect(two.run.thresholdsOk).toBe(false);
  });
});

describe('runK6 stopping', () => {
  it('aborts mid-run: SIGINT, then SIGKILL; no k6 survives and the run resolves as aborted within seconds', async () => {
    const controller = new AbortController();
    const workDir = join(dir, 'abort');
    const pids: number[] = [];
    const started = runK6({
      script: join(FIXTURES, 'hang.ts'),
      // The stack marker lets processesOfStack find every k6 by its environment.
      env: { TARGET_URL: server.url, BW_TEST_SECRET: SECRET, [STACK_ENV_MARKER]: `k6-abort-${process.pid}` },
      workDir,
      runners: 2,
      signal: controller.signal,
      onProgress: (line) => pids.push(...[...line.matchAll(/started \(pid (\d+)\)/g)].map((m) => Number(m[1]))),
    });
    // Abort once both processes hold requests open on /hang.
    const deadline = Date.now() + 15_000;
    while ((server.hits.get('/hang') ?? 0) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(server.hits.get('/hang') ?? 0).toBeGreaterThanOrEqual(2);
    expect(pids).toHaveLength(2);
    // The env reaches k6 through its environment, never its argv.
    for (const pid of pids) {
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).toContain(`BW_TEST_SECRET=${SECRET}`);
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(SECRET);
    }
    const t = Date.now();
    controller.abort(new Error('test abort'));
    const run = await started;
    const took = Date.now() - t;

    expect(run.aborted).toBe(true);
    expect(run.abortReason).toContain('test abort');
    expect(took).toBeLessThan(5000);
    for (const pid of pids) expect(alive(pid), `k6 pid ${pid}`).toBe(false);
    expect(k6ProcessesUnder(workDir)).toEqual([]);
    expect(processesOfStack(`k6-abort-${process.pid}`)).toEqual([]);
  });

  it('kills a k6 that ignores SIGINT 3 s later, and still resolves as aborted', async () => {
    const controller = new AbortController();
    const workDir = join(dir, 'stuck');
    const pids: number[] = [];
    const before = server.hits.get('upgrade') ?? 0;
    const started = runK6({
      script: join(FIXTURES, 'ws-stuck.ts'),
      env: { TARGET_URL: server.url },
      workDir,
      signal: controller.signal,
      onProgress: (line) => pids.push(...[...line.matchAll(/started \(pid (\d+)\)/g)].map((m) => Number(m[1]))),
    });
    const deadline = Date.now() + 15_000;
    while ((server.hits.get('upgrade') ?? 0) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // Give the VU time to block in close().
    await new Promise((r) => setTimeout(r, 300));
    const t = Date.now();
    controller.abort(new Error('stuck'));
    const run = await started;
    const took = Date.now() - t;

    expect(run.aborted).toBe(true);
    // SIGINT did not end it: the SIGKILL 3 s later did (137 = 128 + SIGKILL).
    expect(run.exitCodes).toEqual([137]);
    expect(took).toBeGreaterThanOrEqual(2900);
    expect(took).toBeLessThan(6000);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(k6ProcessesUnder(workDir)).toEqual([]);
  });

  it('treats the wall bound like an abort, with the reason', async () => {
    const workDir = join(dir, 'timeout');
    const { run, pids } = await runCollectingPids({ script: join(FIXTURES, 'hang.ts'), env: { TARGET_URL: server.url, VUS: '1' }, workDir, timeoutMs: 1500 });
    expect(run.aborted).toBe(true);
    expect(run.abortReason).toMatch(/timed out after 1500 ms/);
    expect(run.finishedAt - run.startedAt).toBeLessThan(1500 + 4000);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(k6ProcessesUnder(workDir)).toEqual([]);
  });
});

describe('runK6 refusing what cannot run', () => {
  it('a missing script is a one-line usage error', async () => {
    await expectUsageError(runK6({ script: join(dir, 'nope.ts'), env: {}, workDir: join(dir, 'nope') }), 'nope.ts');
  });

  it('a script with a syntax error is a one-line usage error, and no k6 is left', async () => {
    const script = join(dir, 'broken.ts');
    writeFileSync(script, "import http from 'k6/http';\nexport default function ( {\n  http.get('http://127.0.0.1:1');\n");
    const workDir = join(dir, 'broken');
    const err = await expectUsageError(runK6({ script, env: {}, workDir, runners: 2 }), 'broken.ts');
    expect(err.message).toMatch(/k6 cannot run .*broken\.ts: /);
    expect(k6ProcessesUnder(workDir)).toEqual([]);
  });

  it('a threshold the harness cannot judge is a one-line usage error naming it', async () => {
    const script = join(dir, 'odd-threshold.ts');
    writeFileSync(script, "export const options = { iterations: 1, thresholds: { checks: ['rate=1'] } };\nexport default function () {}\n");
    await expectUsageError(runK6({ script, env: {}, workDir: join(dir, 'odd') }), 'rate=1');
  });

  it('bad options are usage errors before anything starts', async () => {
    await expectUsageError(runK6({ script: 'relative.ts', env: {}, workDir: dir }), 'relative.ts');
    await expectUsageError(runK6({ script: join(FIXTURES, 'hang.ts'), env: {}, workDir: dir, runners: 0 }), 'runners=0');
  });
});
