import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BreakwaterError } from '../errors.ts';
import type { ProvidedRun } from '../suite/provided.ts';
import type { CheckResult, Finding, MatrixCellResult, UnconfirmedFinding } from './result.ts';

/** What the suites produced: the collector's results, carried over IPC. */
export interface SuiteResults {
  checks: CheckResult[];
  findings: Finding[];
  /** Findings whose case did not fail again on a re-run (absent from hosts before this was recorded). */
  unconfirmed?: UnconfirmedFinding[];
  matrix: MatrixCellResult[];
  secrets: string[];
  errors: string[];
}

export interface SuiteHostJob {
  rootDir: string;
  include: string[];
  filters: string[];
  provided: ProvidedRun;
}

export type SuiteHostMessage =
  | { type: 'progress'; done: number; total: number; last: string }
  | { type: 'done'; results: SuiteResults }
  | { type: 'failed'; error: string };

const HOST = fileURLToPath(new URL('../../bin/suite-host.mjs', import.meta.url));

export const emptySuiteResults = (): SuiteResults => ({ checks: [], findings: [], matrix: [], secrets: [], errors: [] });

/**
 * Runs the suites in a child process (the suite host) and returns their
 * results. On abort the host is asked to cancel, gets a grace period, and is
 * killed after it; the results of an aborted run are discarded by the caller.
 */
export async function runSuitesInHost(job: SuiteHostJob, opts: { signal?: AbortSignal; onProgress?: (done: number, total: number, last: string) => void }): Promise<SuiteResults> {
  if (opts.signal?.aborted) return emptySuiteResults();
  // The harness owns the terminal's signals: the host gets its own process group, so a Ctrl-C reaches
  // only the harness, which then cancels the host deliberately.
  const child = fork(HOST, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], detached: true, env: process.env });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  let results: SuiteResults | undefined;
  let failed: string | undefined;
  child.on('message', (m: SuiteHostMessage) => {
    if (m.type === 'progress') opts.onProgress?.(m.done, m.total, m.last);
    else if (m.type === 'done') results = m.results;
    else if (m.type === 'failed') failed = m.error;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.send({ type: 'run', job });
  let killer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    if (child.connected) child.send({ type: 'cancel' });
    killer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, 3000);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // If the harness itself dies, the host and its vitest workers must not outlive it.
  const onExit = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {}
  };
  process.once('exit', onExit);
  try {
    const code = await exited;
    if (opts.signal?.aborted) return results ?? emptySuiteResults();
    if (failed) throw new BreakwaterError('BW_SUITES_FAILED_TO_RUN', `vitest could not run the suites: ${failed}`);
    if (!results) throw new BreakwaterError('BW_SUITES_FAILED_TO_RUN', `the suite host exited (${code}) without results: ${stderr.trim().split('\n').pop() ?? 'no output'}`);
    return results;
  } finally {
    clearTimeout(killer);
    opts.signal?.removeEventListener('abort', onAbort);
    process.off('exit', onExit);
  }
}
