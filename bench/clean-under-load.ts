import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { RunResult } from '../harness/run/result.ts';
import { startCpuHog } from '../test/helpers/cpu-hog.ts';
import { median, type BenchResult } from './types.ts';

const ROOT = join(import.meta.dirname, '..');
/** PR-tier runs of each target; BW_BENCH_RUNS overrides (the issue's figure is 5). */
const RUNS = Number(process.env.BW_BENCH_RUNS ?? 5);

interface Tally {
  findings: number[];
  inconclusive: number[];
  verdicts: string[];
  wallS: number[];
}

function prRuns(config: string, runs: number): Tally {
  const t: Tally = { findings: [], inconclusive: [], verdicts: [], wallS: [] };
  for (let i = 0; i < runs; i++) {
    const out = mkdtempSync(join(tmpdir(), 'bw-bench-load-'));
    try {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/breakwater.mjs'), 'run', '--tier', 'pr', '--config', config, '--out', out, '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, CI: '1', TARGET_FLAWS: '', NOTES_FLAWS: '' }, timeout: 15 * 60_000 });
      t.wallS.push((performance.now() - t0) / 1000);
      let run: RunResult;
      try {
        run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as RunResult;
      } catch {
        throw new Error(`the PR run of ${config} wrote no run.json (exit ${r.status ?? r.signal})`);
      }
      t.findings.push(run.findings.length);
      t.inconclusive.push(run.checks.reduce((n, c) => n + (c.inconclusive?.cases ?? 0), 0));
      t.verdicts.push(run.verdict);
      process.stderr.write(`bench: ${config} run ${i + 1}/${runs}: ${run.verdict}, ${run.findings.length} finding(s)${run.findings.length ? ` (${run.findings.map((f) => f.check).join(', ')})` : ''}\n`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
  return t;
}

/**
 * Precision under a loaded runner: while a busy loop holds every core, the
 * clean reference target and the clean notes fixture each get `RUNS` full PR
 * tiers (sealed, as `npm start` runs them). Goal: 0 findings in every run.
 * Inconclusive cases are counted, not hidden: they are neither passes nor findings.
 */
export async function benchCleanUnderLoad(): Promise<BenchResult> {
  await using hog = startCpuHog();
  const ref = prRuns('breakwater.config.ts', RUNS);
  const notes = prRuns('test/fixtures/notes/breakwater.config.ts', RUNS);
  const load = spawnSync('cat', ['/proc/loadavg']).stdout.toString().split(' ')[0];
  const clean = (t: Tally) => t.findings.filter((n) => n === 0).length;
  return {
    figures: [
      { figure: 'reference target: PR runs with 0 findings under a CPU hog', value: clean(ref), unit: `of ${RUNS}`, goal: `= ${RUNS}`, pass: clean(ref) === RUNS },
      { figure: 'reference target: findings, all runs', value: ref.findings.reduce((a, b) => a + b, 0), unit: 'findings' },
      { figure: 'reference target: inconclusive cases, all runs', value: ref.inconclusive.reduce((a, b) => a + b, 0), unit: 'cases' },
      { figure: 'reference target: PR run wall time, median', value: Math.round(median(ref.wallS)), unit: 's' },
      { figure: 'notes fixture: PR runs with 0 findings under a CPU hog', value: clean(notes), unit: `of ${RUNS}`, goal: `= ${RUNS}`, pass: clean(notes) === RUNS },
      { figure: 'notes fixture: inconclusive cases, all runs', value: notes.inconclusive.reduce((a, b) => a + b, 0), unit: 'cases' },
    ],
    notes: [
      `${hog.processes} busy-loop processes (one per core) ran through all ${2 * RUNS} runs; 1-minute load average at the end: ${load}`,
      `verdicts: reference ${ref.verdicts.join(', ')}; notes ${notes.verdicts.join(', ')}`,
    ],
  };
}
