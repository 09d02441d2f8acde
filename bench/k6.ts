import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runK6, percentile, type K6Run } from '../harness/load/k6-runner.ts';
import { sortedCopy } from '../harness/load/percentile.ts';
import { startLocalStack } from '../harness/stack/local-provider.ts';
import { requireTool } from '../harness/stack/tools.ts';
import type { StartedStack } from '../harness/stack/types.ts';
import referenceChat from '../profiles/reference-chat.ts';
import { median, type BenchResult } from './types.ts';

const ROOT = join(import.meta.dirname, '..');
const SCRIPT = join(ROOT, 'scenarios', 'load', 'chat-mix.ts');
const RUNS = 3;
const TOXIC_MS = 200;
const DIRECT_TIMEOUT_MS = 120_000;

/** Wall time of stock `k6 run` on the script, spawn to exit, as a user would run it. */
async function directWallMs(env: Record<string, string>): Promise<number> {
  const t = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(requireTool('k6'), ['run', '--quiet', '--no-color', '--address', '', '--no-usage-report', SCRIPT], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, K6_NO_USAGE_REPORT: 'true', ...env },
      stdio: 'ignore',
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), DIRECT_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(guard);
      reject(err);
    });
    child.once('close', (c) => {
      clearTimeout(guard);
      resolve(c);
    });
  });
  if (code !== 0) throw new Error(`k6 run ${SCRIPT} exited ${code}`);
  return performance.now() - t;
}

async function runnerWallMs(env: Record<string, string>, workDir: string): Promise<{ ms: number; run: K6Run }> {
  const t = performance.now();
  const run = await runK6({ script: SCRIPT, env, workDir, timeoutMs: DIRECT_TIMEOUT_MS });
  const ms = performance.now() - t;
  if (run.exitCodes.some((c) => c !== 0)) throw new Error(`runK6 ${SCRIPT} exited ${run.exitCodes.join(', ')}: ${run.errors[0] ?? 'no error logged'}`);
  return { ms, run };
}

/** p50 of the scenario's requests (the setup's registrations and logins left out). */
function scenarioP50(run: K6Run): number {
  return percentile(sortedCopy(run.samples('http_req_duration{scenario:chat_mix}').map((s) => s.value)), 50);
}

/**
 * The k6 runner against the reference stack, side by side in one session:
 * 1. the wall time of `runK6()` (k6 with --out json, `k6 inspect` alongside,
 *    then reading every raw point) against stock `k6 run` on the same script,
 *    median of 3 each, interleaved;
 * 2. the latency a 200 ms downstream Toxiproxy latency toxic on the entry link
 *    adds to the p50 the runner reads, as a share of the 200 ms.
 */
export async function benchK6(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-k6-'));
  let stack: StartedStack | undefined;
  try {
    stack = await startLocalStack(referenceChat.stack, { runId: `bench-k6-${process.pid}`, outDir: join(dir, 'stack'), rootDir: ROOT });
    const env = { BASE_URL: stack.info.baseUrl, DURATION: '5s', RATE: '40' };

    const direct: number[] = [];
    const runner: number[] = [];
    let clean: K6Run | undefined;
    for (let i = 0; i < RUNS; i++) {
      direct.push(await directWallMs(env));
      const r = await runnerWallMs(env, join(dir, `runner-${i}`));
      runner.push(r.ms);
      clean = r.run;
    }

    const toxiproxy = stack.toxiproxy;
    if (!toxiproxy) throw new Error('the local stack has no Toxiproxy control');
    const link = stack.info.links[referenceChat.stack.entry]!.proxy;
    await toxiproxy.addToxic(link, 'bench-latency', { type: 'latency', stream: 'downstream', attributes: { latency: TOXIC_MS, jitter: 0 } });
    let slowed: K6Run;
    try {
      // The mix keeps its arrival rate with every request 200 ms longer: give it the VUs for that.
      ({ run: slowed } = await runnerWallMs({ ...env, VUS: '30' }, join(dir, 'toxic')));
    } finally {
      await toxiproxy.removeToxic(link, 'bench-latency');
    }

    const wallRatio = median(runner) / median(direct);
    const p50Clean = scenarioP50(clean!);
    const p50Toxic = scenarioP50(slowed);
    const added = (p50Toxic - p50Clean) / TOXIC_MS;
    return {
      figures: [
        { figure: 'stock k6 run wall time, chat-mix 5 s (median of 3)', value: Math.round(median(direct)), unit: 'ms' },
        { figure: 'runK6 wall time, same script (median of 3)', value: Math.round(median(runner)), unit: 'ms' },
        { figure: 'runK6 / stock k6 wall time', value: Number(wallRatio.toFixed(3)), unit: 'x', goal: '<= 1.05', pass: wallRatio <= 1.05 },
        { figure: 'p50 without toxic', value: Number(p50Clean.toFixed(2)), unit: 'ms' },
        { figure: `p50 with a ${TOXIC_MS} ms downstream latency toxic`, value: Number(p50Toxic.toFixed(2)), unit: 'ms' },
        { figure: `added p50 / ${TOXIC_MS} ms`, value: Number(added.toFixed(3)), unit: 'x', goal: '1.0 ± 0.1', pass: Math.abs(added - 1) <= 0.1 },
      ],
      notes: [
        `stock k6 walls (ms): ${direct.map((m) => Math.round(m)).join(', ')}; runK6 walls (ms): ${runner.map((m) => Math.round(m)).join(', ')}, interleaved`,
        'runK6 adds --out json, --summary-export and a concurrent `k6 inspect`, then streams every raw point; the stock run writes no output',
        `p50s are over the chat_mix scenario's requests only (${clean!.samples('http_req_duration{scenario:chat_mix}').length} clean, ${slowed.samples('http_req_duration{scenario:chat_mix}').length} with the toxic), read from the raw points`,
      ],
    };
  } finally {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
