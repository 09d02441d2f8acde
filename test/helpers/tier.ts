import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../harness/run/result.ts';
import { runCli, type CliResult } from './cli.ts';
import { expectNothingLeft } from './leftovers.ts';

export interface TierRun {
  cli: CliResult;
  run: RunResult;
  out: string;
}

/**
 * Runs a tier through the real CLI (real stack, real suites) and returns the
 * run result it wrote. Checks afterwards that the stack left nothing behind.
 */
export async function runTierCli(opts: { tier?: string; flaws?: string[]; notesFlaws?: string[]; suites?: string[]; scenarios?: string[]; drills?: string[]; config?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<TierRun> {
  const out = mkdtempSync(join(tmpdir(), 'bw-tier-'));
  const id = `proof-${randomBytes(4).toString('hex')}`;
  const args = ['run', '--tier', opts.tier ?? 'pr', '--out', out, '--json'];
  if (opts.config) args.push('--config', opts.config);
  for (const s of opts.suites ?? []) args.push('--suite', s);
  for (const s of opts.scenarios ?? []) args.push('--scenario', s);
  for (const d of opts.drills ?? []) args.push('--drill', d);
  const env: Record<string, string> = { BREAKWATER_RUN_ID: id, TARGET_FLAWS: (opts.flaws ?? []).join(','), NOTES_FLAWS: (opts.notesFlaws ?? []).join(','), ...opts.env };
  const cli = await runCli(args, { env, timeoutMs: opts.timeoutMs ?? 180_000 });
  const runJson = join(out, 'run.json');
  if (!existsSync(runJson)) throw new Error(`no run.json (exit ${cli.code}): ${cli.stderr.slice(-500)}`);
  const run = JSON.parse(readFileSync(runJson, 'utf8')) as RunResult;
  const stackFile = join(out, 'stack.json');
  await expectNothingLeft(id, existsSync(stackFile) ? JSON.parse(readFileSync(stackFile, 'utf8')) : undefined);
  return { cli, run, out };
}

/** Runs async jobs with at most `limit` at once (two stacks at a time suit two cores). */
export async function inParallel<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}
