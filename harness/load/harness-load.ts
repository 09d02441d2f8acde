import { isAbsolute, resolve } from 'node:path';
import { STACK_ENV_MARKER } from '../stack/managed-process.ts';
import type { K6RunOptions } from './k6-runner.ts';

/**
 * The runK6 options for a load that the harness runs beside a scenario or a
 * drill. This is the one place that states the load contract: the script
 * (relative to the root) gets BASE_URL, WS_URL (the realtime path on the same
 * origin), DURATION and ABORT_ON_FAIL=false (faults break thresholds on
 * purpose and the load must keep going), then its own env; and k6 carries the
 * stack's marker so the reaper and the leftover checks find it.
 */
export function harnessLoad(opts: {
  rootDir: string;
  load: { script: string; env?: Record<string, string> };
  baseUrl: string;
  realtimePath?: string;
  runId: string;
  durationMs: number;
  workDir: string;
  signal: AbortSignal;
  timeoutMs: number;
}): K6RunOptions {
  return {
    script: isAbsolute(opts.load.script) ? opts.load.script : resolve(opts.rootDir, opts.load.script),
    env: {
      BASE_URL: opts.baseUrl,
      WS_URL: new URL(opts.realtimePath ?? '/', opts.baseUrl.replace(/^http/, 'ws')).href,
      DURATION: `${Math.ceil(opts.durationMs / 1000)}s`,
      ABORT_ON_FAIL: 'false',
      ...(opts.load.env ?? {}),
      [STACK_ENV_MARKER]: opts.runId,
    },
    workDir: opts.workDir,
    signal: opts.signal,
    timeoutMs: opts.timeoutMs,
  };
}
