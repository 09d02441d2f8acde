import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import referenceChat from '../profiles/reference-chat.ts';
import { startLocalStack } from '../harness/stack/local-provider.ts';
import { median, type BenchResult } from './types.ts';

const ROOT = join(import.meta.dirname, '..');

/** Wall time of `breakwater run --tier pr` as a user runs it (process start to exit). */
async function prTierWallMs(out: string): Promise<number> {
  const t = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/breakwater.mjs'), 'run', '--tier', 'pr', '--out', out, '--json'], {
      cwd: ROOT,
      stdio: 'ignore',
      env: { ...process.env, CI: '1' },
    });
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`breakwater run --tier pr exited ${code}`);
  return performance.now() - t;
}

/**
 * The local stack's cold start (Postgres initdb + start, Redis, Toxiproxy, the
 * app until /readyz), median of 5, and the PR tier's wall time against it,
 * median of 3, measured in the same session so the ratio is fair.
 */
export async function benchStack(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-stack-'));
  try {
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const stack = await startLocalStack(referenceChat.stack, { runId: `bench-start-${i}-${process.pid}`, outDir: join(dir, `s${i}`), rootDir: ROOT });
      starts.push(performance.now() - t);
      await stack.stop();
    }
    const walls: number[] = [];
    for (let i = 0; i < 3; i++) walls.push(await prTierWallMs(join(dir, `pr${i}`)));
    const start = median(starts);
    const wall = median(walls);
    const ratio = wall / start;
    return {
      figures: [
        { figure: 'local stack cold start (median of 5)', value: Math.round(start), unit: 'ms' },
        { figure: 'PR tier wall time (median of 3)', value: Math.round(wall), unit: 'ms', goal: '<= 90000', pass: wall <= 90_000 },
        { figure: 'PR tier wall / stack start', value: Number(ratio.toFixed(2)), unit: 'x', goal: '<= 3', pass: ratio <= 3 },
      ],
      notes: [
        `cold starts (ms): ${starts.map((s) => Math.round(s)).join(', ')}`,
        `PR tier walls (ms): ${walls.map((s) => Math.round(s)).join(', ')}; each includes node start-up, config load, the stack start, seeding, suites and teardown`,
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
