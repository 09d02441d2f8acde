import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchResult } from './types.ts';

const ROOT = join(import.meta.dirname, '..');

/** Resident set of one process in MiB, from /proc; undefined once it is gone. */
function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Direct children of a process (vitest's forks, k6, the stack's services). */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The harness's memory through the whole nightly tier (every suite at 1000
 * runs per property, then every chaos scenario under k6): the resident set of
 * the `breakwater run` process, sampled every 250 ms, peak and median. The
 * vitest worker that runs the suites is its own process and is reported
 * beside it; the stack's services and k6 are not the harness and are left out.
 */
export async function benchNightlyRss(): Promise<BenchResult> {
  const out = mkdtempSync(join(tmpdir(), 'bw-bench-rss-'));
  try {
    const child = spawn(process.execPath, [join(ROOT, 'bin/breakwater.mjs'), 'run', '--tier', 'nightly', '--out', out, '--json'], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, CI: '1' } });
    const main: number[] = [];
    const workers: number[] = [];
    const timer = setInterval(() => {
      const r = rssMiB(child.pid!);
      if (r !== undefined) main.push(r);
      // The tsx loader runs the CLI in the same process; vitest forks are node children of it.
      const w = children(child.pid!)
        .filter((p) => /node/.test(readComm(p)))
        .map(rssMiB)
        .filter((v): v is number => v !== undefined);
      if (w.length) workers.push(Math.max(...w));
    }, 250);
    const t0 = performance.now();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearInterval(timer);
    const wallS = (performance.now() - t0) / 1000;
    if (code !== 0 && code !== 1) throw new Error(`breakwater run --tier nightly exited ${code}`);
    const sorted = [...main].sort((a, b) => a - b);
    const peak = sorted.at(-1) ?? Number.NaN;
    const med = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
    return {
      figures: [
        { figure: 'harness RSS through the nightly tier, peak', value: Math.round(peak), unit: 'MiB', goal: '<= 300', pass: peak <= 300 },
        { figure: 'harness RSS through the nightly tier, median', value: Math.round(med), unit: 'MiB' },
        { figure: 'suite host (vitest, a child process) RSS, peak', value: Math.round(Math.max(...workers, 0)), unit: 'MiB' },
      ],
      notes: [`${main.length} samples over ${wallS.toFixed(0)} s of \`breakwater run --tier nightly\` (exit ${code}): every suite and every shipped scenario`],
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function readComm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
