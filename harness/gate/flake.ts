import { readdirSync, statSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { join, resolve } from 'node:path';
import { BreakwaterError } from '../errors.ts';
import type { EvidencePredicate } from '../evidence/statement.ts';
import { verifyEvidence } from '../evidence/verify.ts';

/** How many of the most recent runs the flake rate looks at. */
export const FLAKE_WINDOW = 20;
/** A check is flagged flaky at or above this rate. */
export const FLAKE_THRESHOLD = 0.02;

/** A verified past run, read from the history dir. */
export interface HistoryEntry {
  file: string;
  predicate: EvidencePredicate;
}

export interface History {
  entries: HistoryEntry[];
  /** One line per file that was ignored, and why. */
  notes: string[];
}

export interface FlakyCheck {
  check: string;
  /** flakyRuns / runs, 0..1. */
  rate: number;
  /** Runs in the window in which the check ran on a commit where it both passed and failed. */
  flakyRuns: number;
  /** Runs in the window. */
  runs: number;
  /** The commits it flipped on. */
  commits: string[];
}

function evidenceFiles(dir: string, depth = 0): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory() && depth < 3) out.push(...evidenceFiles(p, depth + 1));
    else if (e.isFile() && e.name.endsWith('.dsse.json') && e.name !== 'test-result.dsse.json') out.push(p);
  }
  return out;
}

/**
 * Reads every `*.dsse.json` under `dir` (a folder of past runs' evidence, to
 * three levels deep; `test-result.dsse.json` is skipped) and verifies each like
 * `--evidence`, without pinning a commit. Unverifiable files are ignored, each
 * with a note. A `dir` that does not exist is a usage error.
 */
export function loadHistory(dir: string, publicKeys: KeyObject[], cwd = process.cwd()): History {
  const abs = resolve(cwd, dir);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new BreakwaterError('BW_USAGE', `--history ${abs} is not a directory; pass a folder of past runs' evidence.dsse.json files`);
  const entries: HistoryEntry[] = [];
  const notes: string[] = [];
  for (const file of evidenceFiles(abs)) {
    const r = verifyEvidence(file, { publicKeys });
    if (r.ok) entries.push({ file, predicate: r.statement.predicate as EvidencePredicate });
    else notes.push(`history: ignored ${r.reason} [${r.code}]`);
  }
  return { entries, notes };
}

/** Distinct runs (by runId), newest first by `finishedAt`, then runId for a stable order. */
export function recentRuns(runs: EvidencePredicate[], limit = FLAKE_WINDOW): EvidencePredicate[] {
  const byId = new Map<string, EvidencePredicate>();
  for (const r of runs) if (!byId.has(r.runId)) byId.set(r.runId, r);
  return [...byId.values()]
    .sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt) || a.runId.localeCompare(b.runId))
    .slice(0, limit);
}

/**
 * The flaky checks over the last `window` runs. A check is flaky on a commit
 * when it both passed and failed in runs of that same commit; every run of that
 * commit in which it passed or failed is then a flaky run. rate = flaky runs /
 * runs in the window. Returns the checks at or above `threshold`, worst first.
 */
export function flakyChecks(runs: EvidencePredicate[], opts: { window?: number; threshold?: number } = {}): FlakyCheck[] {
  const recent = recentRuns(runs, opts.window ?? FLAKE_WINDOW);
  const threshold = opts.threshold ?? FLAKE_THRESHOLD;
  // check -> (tier, commit) -> the states it ended in, and in how many runs it ran. Per tier: a check that
  // passes at the PR tier's depth and fails at the nightly tier's is a depth difference, not a flake.
  const seen = new Map<string, Map<string, { passed: boolean; failed: boolean; runs: number }>>();
  for (const run of recent) {
    for (const c of run.checks) {
      if (c.state === 'skipped') continue;
      const perCommit = seen.get(c.name) ?? new Map();
      seen.set(c.name, perCommit);
      const key = `${run.tier}\u0000${run.source.commit}`;
      const s = perCommit.get(key) ?? { passed: false, failed: false, runs: 0 };
      perCommit.set(key, s);
      s.runs++;
      if (c.state === 'passed') s.passed = true;
      else s.failed = true;
    }
  }
  const out: FlakyCheck[] = [];
  for (const [check, perCommit] of seen) {
    const flipped = [...perCommit].filter(([, s]) => s.passed && s.failed);
    const flakyRuns = flipped.reduce((n, [, s]) => n + s.runs, 0);
    const rate = recent.length ? flakyRuns / recent.length : 0;
    if (flakyRuns > 0 && rate >= threshold) out.push({ check, rate, flakyRuns, runs: recent.length, commits: [...new Set(flipped.map(([k]) => k.split('\u0000')[1]!))] });
  }
  return out.sort((a, b) => b.rate - a.rate || a.check.localeCompare(b.check));
}
