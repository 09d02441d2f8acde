import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { constants, homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import { BreakwaterError, oneLine } from '../errors.ts';
import { requireTool } from '../stack/tools.ts';
import { MetricStore, readSummaryExport, type HttpSample, type SummaryExport } from './k6-output.ts';
import { percentile, sortedCopy } from './percentile.ts';
import { evaluateThresholds, parseMetricSelector, parseThresholds, thresholdKey, type ThresholdResult, type ThresholdSpec } from './thresholds.ts';

export { percentile } from './percentile.ts';
export { thresholdKey } from './thresholds.ts';
export type { HttpSample } from './k6-output.ts';
export type { ThresholdResult } from './thresholds.ts';

export interface K6RunOptions {
  /** Absolute path of the k6 script (.js or .ts). */
  script: string;
  /** Handed to k6 through the child's environment (never argv), merged over a minimal PATH/HOME; the script reads it as `__ENV`. */
  env: Record<string, string>;
  /** Split the script's load over N k6 processes with execution segments; default 1. Each process runs setup() and teardown() itself. */
  runners?: number;
  /** Raw outputs go here (created if missing): `k6-<i>.ndjson`, `k6-<i>.summary.json`, `k6-<i>.stdout.txt`, `k6-<i>.log`, `inspect.json`. */
  workDir: string;
  /**
   * Keep the raw files (`k6-<i>.ndjson`, `.summary.json`, `.stdout.txt`, `inspect.json`) in workDir.
   * Default false: they are removed once parsed, because the summary export carries the script's
   * setup() data (often tokens). For tests that cross-check against k6's own summary.
   */
  keepRaw?: boolean;
  /** Binary path; default `requireTool('k6')`. */
  k6?: string;
  /** Abort: SIGINT to every k6, SIGKILL 3 s later; the promise then resolves with `aborted: true`. */
  signal?: AbortSignal;
  /** Hard wall bound, default 10 min; reaching it is an abort with a reason. */
  timeoutMs?: number;
  /** One line per k6 log record (`k6#0 warn: ...`) and per process start and exit. */
  onProgress?: (line: string) => void;
}

export interface WindowStats {
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Share of requests whose http_req_failed was true. */
  errorRate: number;
  /** Requests that ended in k6's request timeout (error_code 1050). */
  timeouts: number;
}

export interface K6Run {
  /** Epoch ms. */
  startedAt: number;
  finishedAt: number;
  runners: number;
  /** Per process; a process ended by a signal gets 128 + the signal number. k6's own: 99 thresholds failed, 105 stopped by a signal, 107 script error, 108 aborted by the script. */
  exitCodes: number[];
  aborted: boolean;
  abortReason?: string;
  /** Every http_req_duration point of all runners, merged, sorted by t (the request's end, epoch ms). */
  http: HttpSample[];
  /** Any metric's raw points of all runners, merged and sorted by time; `metric` may carry a selector, `http_req_duration{name:x}`. */
  samples(metric: string, tags?: Record<string, string>): Array<{ t: number; value: number; tags: Record<string, string> }>;
  /** Over the HTTP samples with fromMs <= t < toMs. */
  window(fromMs: number, toMs: number): WindowStats;
  /** HTTP samples in buckets of bucketMs from startedAt; only buckets that hold a sample. */
  series(bucketMs: number): Array<{ t: number; p95Ms: number; errorRate: number; count: number }>;
  /** The script's `options.thresholds`, evaluated by the harness over the merged raw points of all runners. */
  thresholds: ThresholdResult[];
  thresholdsOk: boolean;
  /**
   * Per process, from its --summary-export file, keyed `metric: expression`
   * (see thresholdKey), true when the threshold PASSED. The file itself holds
   * the inverse (k6 writes `true` for a threshold that failed); this is
   * flipped to mean the same as ThresholdResult.ok.
   */
  summaryThresholds: Array<Record<string, boolean>>;
  /** Error-level k6 log messages and output problems, one line each (at most 20 per process). */
  errors: string[];
}

const KILL_AFTER_MS = 3000;
/** How long to wait for a SIGKILLed process to be reaped before giving up on it. */
const REAP_WAIT_MS = 5000;
const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const MAX_RUNNERS = 64;
/** setTimeout's largest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_ERRORS_PER_PROCESS = 20;

/** The processes of every runK6 in flight, killed if node exits while they run. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackForExit(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) signalTree(c, 'SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

function signalTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    // Each k6 leads its own process group (detached), so the group signal reaches anything it forks.
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return signal ? 128 + (constants.signals[signal] ?? 0) : -1;
}

/** `--execution-segment` and `--execution-segment-sequence` of process i of n. */
function segmentArgs(i: number, n: number): string[] {
  if (n === 1) return [];
  const frac = (k: number) => (k === 0 ? '0' : k === n ? '1' : `${k}/${n}`);
  const sequence = Array.from({ length: n + 1 }, (_, k) => frac(k)).join(',');
  return ['--execution-segment', `${frac(i)}:${frac(i + 1)}`, '--execution-segment-sequence', sequence];
}

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  for (const [k, v] of Object.entries(env)) {
    if (!k || k.includes('=') || k.includes('\0') || typeof v !== 'string' || v.includes('\0')) {
      throw new BreakwaterError('BW_USAGE', `k6 env "${k}" is not a NAME=string pair; pass string values without NUL characters`);
    }
  }
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? homedir(),
    ...env,
    // The network only reaches loopback: k6 must never phone home nor fetch extensions.
    K6_NO_USAGE_REPORT: 'true',
    K6_AUTO_EXTENSION_RESOLUTION: 'false',
  };
}

interface Proc {
  index: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  errors: string[];
}

/** Spawns one k6 command; stderr (JSON log records) is parsed line by line, stdout goes to a file. */
function spawnK6(k6: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, stdoutFile: string, label: string, onLine: (level: string, msg: string) => void): Proc {
  const out = openSync(stdoutFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(k6, args, { cwd, env, detached: true, stdio: ['ignore', out, 'pipe'] });
  } finally {
    closeSync(out);
  }
  trackForExit(child);
  const errors: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      errors.push(`${label}: cannot start ${k6}: ${oneLine(err)}`);
      resolve({ code: -1, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  if (child.stderr) {
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
      if (!line.trim()) return;
      let level = 'info';
      let msg = line;
      try {
        const rec = JSON.parse(line) as { level?: string; msg?: string; error?: string };
        level = rec.level ?? level;
        msg = [rec.msg, rec.error].filter(Boolean).join(': ') || line;
      } catch {
        /* not a JSON record (a panic trace): pass it on as is */
      }
      if ((level === 'error' || level === 'fatal' || level === 'panic') && errors.length < MAX_ERRORS_PER_PROCESS) errors.push(`${label}: ${oneLine(msg)}`);
      onLine(level, msg);
    });
  }
  return { index: 0, child, exited, errors };
}

const COMMON_FLAGS = ['--no-color', '--log-format', 'json'];

/**
 * Runs a k6 script, split over `runners` processes with execution segments,
 * and reads the results exactly from the raw `--out json` points: every
 * percentile, window and threshold here is computed over the merged points of
 * all processes, the way k6 would over one process. `k6 inspect` (run
 * alongside) supplies the script's resolved thresholds; each process's
 * `--summary-export` is kept as a cross-check.
 *
 * A script that k6 cannot load (missing file, syntax error, bad options)
 * throws a one-line BW_USAGE error. Anything that happens during the run
 * (setup aborting, thresholds failing, a process crashing) is in the result:
 * `exitCodes`, `errors`, `thresholds`. Abort and timeout resolve with
 * `aborted: true` after every k6 process has exited.
 */
export async function runK6(opts: K6RunOptions): Promise<K6Run> {
  const runners = opts.runners ?? 1;
  if (!isAbsolute(opts.script)) throw new BreakwaterError('BW_USAGE', `k6 script "${opts.script}" is not an absolute path; resolve it first`);
  if (!existsSync(opts.script) || !statSync(opts.script).isFile()) throw new BreakwaterError('BW_USAGE', `k6 script ${opts.script} does not exist; check the path`);
  if (!Number.isInteger(runners) || runners < 1 || runners > MAX_RUNNERS) throw new BreakwaterError('BW_USAGE', `runners=${runners} is not an integer in 1..${MAX_RUNNERS}`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) throw new BreakwaterError('BW_USAGE', `timeoutMs=${timeoutMs} is not a number of milliseconds in 1..${MAX_TIMER_MS}`);
  const k6 = opts.k6 ?? requireTool('k6');
  if (!existsSync(k6)) throw new BreakwaterError('BW_TOOL_MISSING', `k6 binary ${k6} does not exist; run \`npx breakwater setup\` or pass the right path`);
  const env = childEnv(opts.env);
  mkdirSync(opts.workDir, { recursive: true });

  const progress = (line: string) => {
    try {
      opts.onProgress?.(line);
    } catch {
      /* a failing progress callback must not break the run */
    }
  };
  const startedAt = Date.now();
  if (opts.signal?.aborted) return emptyRun(startedAt, runners, 'aborted before k6 started');

  const file = (i: number, ext: string) => join(opts.workDir, `k6-${i}.${ext}`);
  const all: Proc[] = [];
  let stopReason: string | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let reapTimer: NodeJS.Timeout | undefined;
  let giveUp!: () => void;
  // Resolves REAP_WAIT_MS after SIGKILL went out: the bound on waiting for an exit.
  const givenUp = new Promise<undefined>((resolve) => (giveUp = () => resolve(undefined)));
  const killAll = () => {
    all.forEach((p) => signalTree(p.child, 'SIGKILL'));
    reapTimer ??= setTimeout(giveUp, REAP_WAIT_MS);
  };
  const stop = (reason: string, hard = false) => {
    stopReason ??= reason;
    if (hard) return killAll();
    all.forEach((p) => signalTree(p.child, 'SIGINT'));
    killTimer ??= setTimeout(killAll, KILL_AFTER_MS);
  };
  const settle = (list: Proc[]) => Promise.all(list.map((p) => Promise.race([p.exited, givenUp])));
  const onAbort = () => stop(`aborted: ${oneLine(opts.signal?.reason ?? 'signal')}`);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const wallTimer = setTimeout(() => stop(`timed out after ${timeoutMs} ms`), timeoutMs);

  try {
    // `k6 inspect` resolves the options (thresholds included) with the same environment, next to the run, so it costs no wall time.
    const inspect = spawnK6(k6, ['inspect', '--include-system-env-vars', ...COMMON_FLAGS, opts.script], env, opts.workDir, join(opts.workDir, 'inspect.json'), 'k6 inspect', () => {});
    all.push(inspect);
    const procs: Proc[] = [];
    for (let i = 0; i < runners; i++) {
      const args = [
        'run',
        ...COMMON_FLAGS,
        '--quiet',
        // No REST API: parallel processes would fight over port 6565.
        '--address',
        '',
        '--no-usage-report',
        '--out',
        `json=${file(i, 'ndjson')}`,
        `--summary-export=${file(i, 'summary.json')}`,
        ...segmentArgs(i, runners),
        opts.script,
      ];
      const label = runners === 1 ? 'k6' : `k6#${i}`;
      const proc = spawnK6(k6, args, env, opts.workDir, file(i, 'stdout.txt'), label, (level, msg) => progress(`${label} ${level}: ${oneLine(msg)}`));
      proc.index = i;
      all.push(proc);
      procs.push(proc);
      progress(`${label} started (pid ${proc.child.pid ?? '?'})`);
      void proc.exited.then(({ code, signal }) => progress(`${label} exited ${exitCodeOf(code, signal)}`));
    }
    // An abort that came while spawning reaches the processes started since.
    if (stopReason) stop(stopReason);

    const inspected = await inspect.exited;
    let specs: ThresholdSpec[] = [];
    let loadError: string | undefined;
    if (inspected.code !== 0 && !stopReason) {
      loadError = inspect.errors[0]?.replace(/^k6 inspect: /, '') ?? `k6 inspect exited ${exitCodeOf(inspected.code, inspected.signal)}`;
    } else if (!stopReason) {
      try {
        specs = parseThresholds(JSON.parse(readText(join(opts.workDir, 'inspect.json'))).thresholds);
      } catch (err) {
        if (err instanceof BreakwaterError) loadError = err.message;
        else loadError = `k6 inspect printed no options: ${oneLine(err)}`;
      }
    }
    if (loadError) {
      // The script cannot run: nothing the processes would produce is worth waiting for.
      stop('the script did not load', true);
      await settle(procs);
      throw new BreakwaterError('BW_USAGE', `k6 cannot run ${opts.script}: ${oneLine(loadError)}`);
    }

    const exits = await settle(procs);
    const finishedAt = Date.now();
    const store = new MetricStore();
    for (const p of procs) await store.readFile(file(p.index, 'ndjson'));
    const summaries: SummaryExport[] = procs.map((p) => readSummaryExport(file(p.index, 'summary.json'), thresholdKey));
    for (const s of summaries) for (const [metric, type] of Object.entries(s.types)) store.setTypeIfUnknown(metric, type);
    const durations = summaries.map((s) => s.durationSec).filter((d): d is number => d !== undefined);
    const durationSec = durations.length ? Math.max(...durations) : (finishedAt - startedAt) / 1000;
    const thresholds = evaluateThresholds(specs, store, durationSec);

    const errors = procs.flatMap((p) => p.errors);
    if (store.malformedLines) errors.push(`k6: ${store.malformedLines} unreadable line(s) in the JSON output were skipped (a process stopped mid-write)`);
    exits.forEach((e, i) => {
      if (e === undefined) errors.push(`k6#${i}: did not exit within ${REAP_WAIT_MS} ms of SIGKILL`);
    });
    return makeRun({
      startedAt,
      finishedAt,
      runners,
      exitCodes: exits.map((e) => (e ? exitCodeOf(e.code, e.signal) : -1)),
      aborted: stopReason !== undefined,
      abortReason: stopReason,
      store,
      thresholds,
      summaryThresholds: summaries.map((s) => s.thresholds),
      errors,
    });
  } finally {
    clearTimeout(wallTimer);
    opts.signal?.removeEventListener('abort', onAbort);
    // Every path out of here leaves no k6 behind.
    for (const p of all) signalTree(p.child, 'SIGKILL');
    clearTimeout(killTimer);
    clearTimeout(reapTimer);
    // The raw files are scratch: everything is in the result now, and they hold what the script saw
    // (the summary export carries setup() data, i.e. the tokens the load logged in with).
    if (!opts.keepRaw) {
      for (let i = 0; i < runners; i++) for (const ext of ['ndjson', 'summary.json', 'stdout.txt']) rmSync(file(i, ext), { force: true });
      rmSync(join(opts.workDir, 'inspect.json'), { force: true });
    }
  }
}

/**
 * The HTTP stats of a window from what the running k6 processes of `workDir`
 * have written so far (k6 flushes its JSON output about every second), so a
 * steady state can be judged while the load still runs: before any fault.
 */
export async function peekHttpWindow(workDir: string, runners: number, fromMs: number, toMs: number): Promise<WindowStats> {
  const store = new MetricStore();
  for (let i = 0; i < runners; i++) {
    const path = join(workDir, `k6-${i}.ndjson`);
    if (existsSync(path)) await store.readFile(path);
  }
  const http = store.httpSamples();
  return statsOf(http.slice(lowerBound(http, fromMs), lowerBound(http, toMs)));
}

function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

interface RunParts {
  startedAt: number;
  finishedAt: number;
  runners: number;
  exitCodes: number[];
  aborted: boolean;
  abortReason?: string;
  store: MetricStore;
  thresholds: ThresholdResult[];
  summaryThresholds: Array<Record<string, boolean>>;
  errors: string[];
}

function statsOf(samples: HttpSample[]): WindowStats {
  const sorted = sortedCopy(samples.map((s) => s.durationMs));
  let failed = 0;
  let timeouts = 0;
  for (const s of samples) {
    if (s.failed) failed++;
    if (s.errorCode === 1050) timeouts++;
  }
  return {
    count: samples.length,
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : 0,
    errorRate: samples.length ? failed / samples.length : 0,
    timeouts,
  };
}

/** Index of the first sample with t >= at (samples sorted by t). */
function lowerBound(samples: HttpSample[], at: number): number {
  let lo = 0;
  let hi = samples.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (samples[mid]!.t < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function makeRun(parts: RunParts): K6Run {
  const { store } = parts;
  const http = store.httpSamples();
  return {
    startedAt: parts.startedAt,
    finishedAt: parts.finishedAt,
    runners: parts.runners,
    exitCodes: parts.exitCodes,
    aborted: parts.aborted,
    ...(parts.abortReason !== undefined ? { abortReason: parts.abortReason } : {}),
    http,
    samples(metric, tags = {}) {
      const selector = parseMetricSelector(metric);
      const wanted = { ...selector.tags, ...tags };
      const points = store.points({ metric: selector.metric, tags: wanted });
      // Unfiltered, that is the store's own array: hand out a copy.
      return Object.keys(wanted).length ? points : points.slice();
    },
    window(fromMs, toMs) {
      return statsOf(http.slice(lowerBound(http, fromMs), lowerBound(http, toMs)));
    },
    series(bucketMs) {
      if (!(bucketMs > 0)) throw new BreakwaterError('BW_USAGE', `series bucket ${bucketMs} ms is not a positive number of milliseconds`);
      const out: Array<{ t: number; p95Ms: number; errorRate: number; count: number }> = [];
      let i = 0;
      while (i < http.length) {
        const bucket = Math.floor((http[i]!.t - parts.startedAt) / bucketMs);
        const from = parts.startedAt + bucket * bucketMs;
        const j = lowerBound(http, from + bucketMs);
        const stats = statsOf(http.slice(i, j));
        out.push({ t: from, p95Ms: stats.p95Ms, errorRate: stats.errorRate, count: stats.count });
        i = j;
      }
      return out;
    },
    thresholds: parts.thresholds,
    thresholdsOk: parts.thresholds.every((t) => t.ok),
    summaryThresholds: parts.summaryThresholds,
    errors: parts.errors,
  };
}

function emptyRun(at: number, runners: number, reason: string): K6Run {
  return makeRun({
    startedAt: at,
    finishedAt: at,
    runners,
    exitCodes: [],
    aborted: true,
    abortReason: reason,
    store: new MetricStore(),
    thresholds: [],
    summaryThresholds: [],
    errors: [],
  });
}
