import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runK6 } from '../../harness/load/k6-runner.ts';
import { startLocalStack } from '../../harness/stack/local-provider.ts';
import { requireTool } from '../../harness/stack/tools.ts';
import type { StartedStack } from '../../harness/stack/types.ts';
import referenceChat from '../../profiles/reference-chat.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const PROFILES = join(ROOT, 'scenarios', 'load');

let stack: StartedStack | undefined;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bw-k6-profiles-'));
  stack = await startLocalStack(referenceChat.stack, { runId: `k6-profiles-${process.pid}`, outDir: join(dir, 'stack'), rootDir: ROOT });
});

afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface StockRun {
  code: number | null;
  stderr: string;
  summary: { metrics: Record<string, Record<string, unknown>>; root_group: { checks: Record<string, { passes: number; fails: number }> } };
}

/** Runs a profile the way a user would: stock `k6 run`, configuration only through the environment. */
function stockK6(script: string, env: Record<string, string>): Promise<StockRun> {
  const summaryFile = join(dir, `${script.replace(/\W/g, '_')}.summary.json`);
  return new Promise((resolve, reject) => {
    const child = spawn(requireTool('k6'), ['run', '--quiet', '--no-color', '--address', '', '--no-usage-report', `--summary-export=${summaryFile}`, join(PROFILES, script)], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, K6_NO_USAGE_REPORT: 'true', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A bounded test: a run that hangs is killed and fails the test.
    const guard = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(guard);
      try {
        resolve({ code, stderr, summary: JSON.parse(readFileSync(summaryFile, 'utf8')) });
      } catch (err) {
        reject(new Error(`k6 ${script} exited ${code} without a summary: ${stderr.trim().split('\n').at(-1)}`, { cause: err }));
      }
    });
  });
}

// Concurrent: the stack has room for both, and the folder's wall time budget is tight.
describe.concurrent('the load profiles against the clean reference stack', () => {
  it('chat-mix and ws-fanout run under stock k6 with every threshold passing', async () => {
    const baseUrl = stack!.info.baseUrl;
    const env = { BASE_URL: baseUrl, WS_URL: `${baseUrl.replace(/^http/, 'ws')}/ws`, DURATION: '5s' };
    const [mix, fanout] = await Promise.all([stockK6('chat-mix.ts', env), stockK6('ws-fanout.ts', env)]);

    expect(mix.code, mix.stderr).toBe(0);
    expect(fanout.code, fanout.stderr).toBe(0);
    // The runs did what they claim: the mix covered every route, the fan-out delivered and reconnected.
    const checks = mix.summary.root_group.checks;
    for (const route of ['read-messages', 'list-channels', 'post-message', 'me']) {
      const check = Object.values(checks).find((c) => (c as { name?: string }).name?.startsWith(`${route} `));
      expect(check?.passes, route).toBeGreaterThan(0);
      expect(check?.fails, route).toBe(0);
    }
    // A Rate's `fails` counts its false points: requests that did not fail. 5 s at 40/s is 200 of them.
    expect(Number(mix.summary.metrics['http_req_failed{scenario:chat_mix}']?.fails)).toBeGreaterThan(150);
    const f = fanout.summary.metrics;
    expect(Number(f.ws_deliveries?.count)).toBeGreaterThan(50);
    expect(Number(f.ws_reconnect_success?.passes)).toBeGreaterThan(0);
    expect(f.ws_delivery_ms?.['p(95)']).toBeTypeOf('number');
  });

  it('chat-mix split over two runK6 processes passes its thresholds on the merged points', async () => {
    const baseUrl = stack!.info.baseUrl;
    const run = await runK6({ script: join(PROFILES, 'chat-mix.ts'), env: { BASE_URL: baseUrl, DURATION: '5s', RATE: '20' }, runners: 2, workDir: join(dir, 'mix-split') });
    expect(run.exitCodes, run.errors.join('; ')).toEqual([0, 0]);
    expect(run.thresholdsOk).toBe(true);
    // Setup requests (two per user) are in the raw points but not in the scenario's.
    const scenario = run.samples('http_req_duration{scenario:chat_mix}');
    expect(scenario.length).toBeGreaterThanOrEqual(99);
    expect(run.http.length).toBeGreaterThan(scenario.length);
    expect(run.thresholds.map((t) => `${t.metric} ${t.expression}`)).toContain('http_req_failed rate<0.5');
    expect(run.thresholds.find((t) => t.metric === 'http_req_failed{scenario:chat_mix}')?.observed).toBe(0);
  });
});
