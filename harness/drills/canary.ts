import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedConfig } from '../config/load-config.ts';
import { spanMs, type Span } from '../config/scenario.ts';
import type { PostgresService, Severity, SloDefinition } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import { harnessLoad } from '../load/harness-load.ts';
import { percentile, runK6, type K6Run } from '../load/k6-runner.ts';
import { checkNothingLost, IntegrityWriters, type IntegrityReport, type WriteLog } from '../probes/integrity.ts';
import { ReadinessProbe } from '../probes/readiness.ts';
import { findingReporter } from '../run/finding-reporter.ts';
import type { CheckResult, Finding, Measurement } from '../run/result.ts';
import { isListening } from '../stack/ports.ts';
import { postgresBinDir } from '../stack/tools.ts';
import type { StartedInstance, StartedStack } from '../stack/types.ts';
import { probeBoundaries, type BoundaryProbeResult } from './boundary-probe.ts';
import type { CanaryDrill, DrillContext, DrillOutcome, DrillRecord, DrillRunner } from './types.ts';
import { addressOf, WeightedRouter, type UpstreamStats } from './weighted-router.ts';

/** Load on the baseline alone before the candidate is deployed. */
const BASELINE_MS = 3_000;
/** Load on the baseline after the candidate is gone: its readiness must hold throughout. */
const AFTER_MS = 2_000;
/** After a promotion, how long the candidate takes every new connection before the stack is restored. */
const PROMOTE_VERIFY_MS = 2_000;
/** The rollback-time objective: decision to candidate out of the route, stopped, and the baseline serving. */
const ROLLBACK_OBJECTIVE_MS = 10_000;
/** Requests in flight on the candidate get this long to finish when it is taken out; then its connections are cut. */
const DRAIN_GRACE_MS = 1_000;
/** How long the route may take to serve through the baseline after a rollback. */
const SERVING_TIMEOUT_MS = 10_000;
/** How long past `evaluateFor` the decision waits for the boundary check against the candidate. */
const BOUNDARY_GRACE_MS = 60_000;
/**
 * Latency is judged from this long after the candidate joins the route: a
 * fresh process compiles its hot paths on its first requests (and meets the
 * boundary check's burst). Errors and readiness count from the first request.
 */
const WARMUP_MS = 2_000;
/** Latency over fewer answered requests than this (a canary decided within its warm-up) is not judged. */
const MIN_LATENCY_SAMPLES = 20;
/** Fewer routed candidate requests than this cannot be judged: the candidate is rolled back. */
const MIN_CANDIDATE_REQUESTS = 20;
/** A candidate misses an SLO the baseline misses too only when it is clearly worse: latency × 1.5 + 25 ms, error rate + the objective, readiness − 5 points. */
const LATENCY_FACTOR = 1.5;
const LATENCY_SLACK_MS = 25;
const READINESS_SLACK = 0.05;
const TICK_MS = 200;
const PG_DUMP_TIMEOUT_MS = 20_000;

const DEFAULT_SEVERITY: Record<string, Severity> = {
  'drill.canary-missed': 'critical',
  'drill.lost-write': 'critical',
  'drill.wrong-channel': 'critical',
  'drill.duplicate-write': 'high',
  'drill.rollback-incomplete': 'high',
};

type Decision = 'promote' | 'rollback';

/** One line of `canary-log.json`'s timeline. */
interface LogEvent {
  /** Epoch ms. */
  t: number;
  /** Ms since the drill started. */
  at: number;
  event: string;
  detail?: unknown;
}

/** What the router saw of one upstream over a window. */
interface UpstreamWindow {
  /** Requests routed to it that ended in the window (answered, or closed unanswered), plus failed connections. */
  requests: number;
  /** 5xx answers, requests closed without an answer, failed connections. */
  errors: number;
  errorRate?: number;
  /** Time to the response head, p95 over requests answered from `latencyFrom` on. */
  p95Ms?: number;
  latencyFrom: number;
  /** Answered requests that p95Ms is taken over. */
  latencySamples: number;
  statuses: Record<string, number>;
  connections: number;
}

interface PromoteCheck {
  ok: boolean;
  newConnections: number;
  served: boolean;
  errors: number;
  requests: number;
  problems: string[];
}

interface SloJudgement {
  slo: string;
  indicator: SloDefinition['indicator'];
  objective: number;
  candidate?: number;
  baseline?: number;
  breached: boolean;
  note?: string;
}

interface RollbackRecord {
  kind: 'rollback' | 'restore-after-promote';
  /** Epoch ms it counts from: the decision for a rollback, its own start for the restore after a promotion. */
  from: number;
  /** Ms from `from` until the candidate took no new connections (weight 0). */
  routedOutMs?: number;
  /** The candidate's routed connection count at that moment: any later one is a leak. */
  connectionsAtOut?: number;
  drainedConnections?: number;
  stoppedMs?: number;
  servingMs?: number;
  /** From `from` until the route served through the baseline with the candidate stopped. */
  ms?: number;
  ok: boolean;
  problems: string[];
}

/**
 * Canary and rollback rehearsal on a started, seeded stack:
 *
 * 1. the baseline (the entry service as started) runs under the drill's load,
 *    with integrity writers appending marked writes, all through a weighted
 *    L4 router the harness owns;
 * 2. a candidate is deployed: the entry service started again by the
 *    provider (same command, links and secrets; `candidate.env` and
 *    `candidate.envFrom` on top);
 * 3. `weight` of new connections is routed to it, and the baseline's idle
 *    connections are closed so that clients holding connections open
 *    reconnect under the new weights;
 * 4. it is evaluated for `evaluateFor`: per-upstream error rate and latency
 *    at the router against the profile's SLOs (a breach the baseline shares
 *    is the machine's, not the candidate's), its readiness, and the profile's
 *    authz matrix aimed straight at it; a broken boundary or a dead candidate
 *    decides at once;
 * 5. promote or roll back. Rollback: weight 0, its connections drained
 *    (cut after 1 s), the candidate stopped, the route serving through the
 *    baseline. Promote: every connection moved to the candidate and verified
 *    there, then the stack is restored to its baseline (the rollback's steps)
 *    so the run can go on: a rehearsal does not replace the stack's service;
 * 6. every acknowledged write is read back through the baseline, the
 *    baseline's readiness must hold after the change, and the database schema
 *    is compared before and after.
 *
 * The expected decision comes from `ctx.options.expect` (`promote` or
 * `rollback`); without it a candidate given any value through
 * `candidate.envFrom` (the rehearsal's injected regression, e.g.
 * `TARGET_FLAWS` ← `CANDIDATE_FLAWS`) is expected to be rolled back and any
 * other candidate promoted. `ctx.options[VAR]` (a string) stands in for the
 * harness environment variable VAR that envFrom reads. The record passes when
 * the decision matches and the change (rollback or restore) worked with every
 * acknowledged write intact; a promoted candidate that should have been
 * rolled back fails with a critical `drill.canary-missed` finding.
 */
export const runCanaryDrill: DrillRunner<CanaryDrill> = async (drill, ctx) => {
  const started = Date.now();
  const suite = await drillSource(drill, ctx.config);
  const profile = ctx.config.target;
  const timeline: LogEvent[] = [];
  const event = (name: string, detail?: unknown) => {
    const t = Date.now();
    timeline.push({ t, at: t - started, event: name, ...(detail === undefined ? {} : { detail }) });
    ctx.onStep?.(`drill ${drill.name}: ${name}`);
  };

  const weight = drill.weight ?? 0.25;
  if (!(weight > 0 && weight < 1)) throw new BreakwaterError('BW_CONFIG_INVALID', `drill ${drill.name}: weight is ${weight}; it must be a share of connections between 0 and 1 (exclusive), e.g. 0.25`);
  const evaluateMs = spanMs((drill.evaluateFor ?? '15s') as Span);
  if (evaluateMs === undefined || evaluateMs < 1000) throw new BreakwaterError('BW_CONFIG_INVALID', `drill ${drill.name}: evaluateFor is ${String(drill.evaluateFor)}; it must be a duration of at least 1s, e.g. "15s"`);
  const entryLink = profile.stack.links.find((l) => l.name === profile.stack.entry)!;
  const entryService = entryLink.to;
  const entryDef = profile.stack.services[entryService];
  const harnessEnv = (name: string): string | undefined => {
    const o = ctx.options?.[name];
    return typeof o === 'string' ? o : process.env[name];
  };
  const fromEnv = Object.entries(drill.candidate.envFrom ?? {})
    .map(([k, src]) => [k, src, harnessEnv(src)] as const)
    .filter(([, , v]) => v !== undefined && v !== '');
  const candidateEnv: Record<string, string> = { ...(drill.candidate.env ?? {}), ...Object.fromEntries(fromEnv.map(([k, , v]) => [k, v!])) };
  const expectOpt = ctx.options?.expect;
  if (expectOpt !== undefined && expectOpt !== 'promote' && expectOpt !== 'rollback') {
    throw new BreakwaterError('BW_USAGE', `drill ${drill.name}: options.expect is "${String(expectOpt)}"; use "promote" or "rollback"`);
  }
  const expected: Decision = (expectOpt as Decision | undefined) ?? (fromEnv.length ? 'rollback' : 'promote');
  const expectedBecause =
    expectOpt !== undefined ? 'options.expect' : fromEnv.length ? `the candidate was given ${fromEnv.map(([k, src, v]) => `${k}=${v} (from ${src})`).join(', ')}` : 'the candidate runs the baseline unchanged';

  const processes = ctx.stack.processes;
  const cannot =
    !entryDef || entryDef.kind !== 'process'
      ? `the entry link "${profile.stack.entry}" leads to "${entryService}", which is not a process service the harness can start again`
      : !processes?.startInstance
        ? `the ${ctx.stack.info.provider} provider cannot start a second instance of "${entryService}"; run the canary drill with the local provider`
        : undefined;
  if (cannot) return skipped(drill, suite, started, `drill ${drill.name} cannot run: ${cannot}`);

  const healthPath = entryDef!.kind === 'process' ? entryDef!.health.path : '/';
  const stack = ctx.stack;
  const ac = new AbortController();
  const loadStop = new AbortController();
  const onAbort = () => ac.abort();
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal?.aborted) ac.abort();

  const baseReady = new ReadinessProbe(new URL(healthPath, stack.info.baseUrl).href);
  let candReady: ReadinessProbe | undefined;
  let router: WeightedRouter | undefined;
  let candidate: StartedInstance | undefined;
  let writers: IntegrityWriters | undefined;
  let writeLog: WriteLog | undefined;
  let k6p: Promise<unknown> | undefined;
  let k6: K6Run | undefined;
  let k6Error: unknown;
  let boundaryP: Promise<void> | undefined;
  let boundary: BoundaryProbeResult | undefined;
  let boundaryError: string | undefined;

  const abortReasons: string[] = [];
  const failures: string[] = [];
  const measurements: Measurement[] = [];
  const decisionReasons: string[] = [];
  let decision: Decision | undefined;
  let deployError: string | undefined;
  let canaryStart: number | undefined;
  let deployStart: number | undefined;
  let decidedAt: number | undefined;
  let rollback: RollbackRecord | undefined;
  let promoteCheck: PromoteCheck | undefined;
  let candWindow: UpstreamWindow | undefined;
  let baseWindow: UpstreamWindow | undefined;
  let slos: SloJudgement[] = [];
  let candidateReadiness: number | undefined;
  let afterReadiness: number | undefined;
  let integrity: IntegrityReport | undefined;
  let integrityError: string | undefined;
  let schemaBefore: Record<string, string> | undefined;
  let schemaAfter: Record<string, string> | undefined;
  let candidateLeft: { running: boolean; listening: boolean; routedAfterOut: number; active: number } | undefined;
  let statsAtDecision: Record<string, UpstreamStats> | undefined;
  let series: Record<string, SeriesPoint[]> | undefined;

  const { findings, report } = findingReporter({ profile, suite: suite, scope: drill.name, command: `npx breakwater run --tier drill --drill ${drill.name}`, redactor: ctx.redactor, defaults: DEFAULT_SEVERITY });

  try {
    // ── 1. the baseline under steady load, through the router ────────────────
    router = await WeightedRouter.start([{ name: 'baseline', address: addressOf(stack.info.baseUrl), weight: 1 }]);
    event('router-started', { url: router.url, baseline: stack.info.baseUrl });
    baseReady.start();
    schemaBefore = await schemaFingerprints(ctx.config, stack);
    if (profile.integrity) {
      writers = new IntegrityWriters({ profile, world: ctx.world, baseUrl: router.url, runId: `${ctx.runId}-${drill.name}`, login: ctx.login, signal: ac.signal });
      await writers.start();
      event('writers-started');
    }
    if (drill.load) {
      const plannedMs = BASELINE_MS + 30_000 + evaluateMs + BOUNDARY_GRACE_MS + ROLLBACK_OBJECTIVE_MS + PROMOTE_VERIFY_MS + AFTER_MS;
      // The load goes through the router; the candidate may be bad on purpose, so it keeps going through its rollback.
      k6p = runK6(
        harnessLoad({
          rootDir: ctx.config.rootDir,
          load: drill.load,
          baseUrl: router.url,
          realtimePath: profile.realtime?.path,
          runId: stack.info.runId,
          durationMs: plannedMs,
          workDir: ctx.outDir,
          // Stopped by an abort, or by the drill once the baseline has carried the load after the change.
          signal: AbortSignal.any([ac.signal, loadStop.signal]),
          timeoutMs: plannedMs + 120_000,
        }),
      ).then(
        (r) => (k6 = r),
        (err) => {
          k6Error = err;
        },
      );
      event('load-started', { script: drill.load.script });
    }
    await sleep(BASELINE_MS, undefined, { signal: ac.signal });
    if (k6Error) throw k6Error;
    const ready = baseReady.fraction(started, Date.now());
    if (ready !== undefined && ready < 1) throw new BreakwaterError('BW_STACK_FAULT', `the baseline was not ready before the canary (readiness ${(ready * 100).toFixed(0)}%); the candidate was not deployed`);
    event('baseline-measured', { readiness: ready, upstreams: router.stats() });

    // ── 2. deploy the candidate ───────────────────────────────────────────────
    deployStart = Date.now();
    try {
      candidate = await processes!.startInstance!(entryService, { name: `${entryService}-${drill.name}-candidate`, env: candidateEnv, signal: ac.signal });
      event('candidate-started', { url: candidate.url, pid: candidate.pid, env: Object.keys(candidateEnv) });
    } catch (err) {
      if (ac.signal.aborted) throw err;
      deployError = oneLine(err);
      event('candidate-failed-to-start', { error: deployError });
    }

    if (candidate) {
      candReady = new ReadinessProbe(new URL(healthPath, candidate.url).href);
      candReady.start();
      router.add({ name: 'candidate', address: addressOf(candidate.url), weight: 0 });
      // ── 3. route the canary share ──────────────────────────────────────────
      const before = router.stats();
      router.setWeights({ baseline: 1 - weight, candidate: weight });
      canaryStart = Date.now();
      // Clients hold keep-alive connections and sockets: idle ones are closed so that their reconnects meet the new weights.
      const moved = router.rebalance('baseline');
      event('canary-routed', { weights: { baseline: 1 - weight, candidate: weight }, rebalancedConnections: moved });

      // ── 4. evaluate ────────────────────────────────────────────────────────
      boundaryP = probeBoundaries({
        config: ctx.config,
        stack: stack.info,
        world: ctx.world,
        runId: ctx.runId,
        baselineUrl: stack.info.baseUrl,
        candidateUrl: candidate.url,
        login: ctx.login,
        redactor: ctx.redactor,
      }).then(
        (r) => {
          boundary = r;
          event('boundary-checked', { cells: r.cells.length, violations: r.violations.length, serverErrors: r.serverErrors.length, unexpectedDenies: r.unexpectedDenies.length, ms: r.durationMs });
        },
        (err) => {
          boundaryError = ctx.redactor.redact(oneLine(err));
          event('boundary-check-failed', { error: boundaryError });
        },
      );
      const settled = () => boundary !== undefined || boundaryError !== undefined;
      const evalEnd = canaryStart + evaluateMs;
      for (;;) {
        const now = Date.now();
        if (boundary && boundary.violations.length) break;
        if (!candidate.running()) break;
        if (now >= evalEnd && settled()) break;
        if (now >= evalEnd + BOUNDARY_GRACE_MS) break;
        await sleep(TICK_MS, undefined, { signal: ac.signal });
      }
      if (k6Error) throw k6Error;
      decidedAt = Date.now();
      statsAtDecision = router.stats();
      const latencyFrom = canaryStart + WARMUP_MS;
      candWindow = upstreamWindow(router, 'candidate', canaryStart, decidedAt, before.candidate, statsAtDecision.candidate!, latencyFrom);
      baseWindow = upstreamWindow(router, 'baseline', canaryStart, decidedAt, before.baseline!, statsAtDecision.baseline!, latencyFrom);
      candidateReadiness = candReady.fraction(canaryStart, decidedAt);
      const baselineReadiness = baseReady.fraction(canaryStart, decidedAt);
      slos = judgeSlos(profile.slos, candWindow, baseWindow, candidateReadiness, baselineReadiness);

      if (!candidate.running()) {
        const exit = candidate.exits().at(-1);
        decisionReasons.push(`the candidate exited during the canary (code ${exit?.code ?? '?'}${exit?.signal ? `, ${exit.signal}` : ''})`);
      }
      if (boundary) {
        const b = boundary;
        if (b.violations.length) decisionReasons.push(`${b.violations.length} boundary violation(s) on the candidate: ${b.violations.slice(0, 3).map(cellLine).join('; ')}`);
        if (b.serverErrors.length) decisionReasons.push(`${b.serverErrors.length} server error(s) on the candidate's authz matrix: ${b.serverErrors.slice(0, 3).map(cellLine).join('; ')}`);
        if (b.unexpectedDenies.length) decisionReasons.push(`${b.unexpectedDenies.length} call(s) the policy allows were denied by the candidate: ${b.unexpectedDenies.slice(0, 3).map(cellLine).join('; ')}`);
      } else {
        decisionReasons.push(boundaryError ? `the boundary check could not run against the candidate: ${boundaryError}` : `the boundary check against the candidate did not finish within ${Math.round((evaluateMs + BOUNDARY_GRACE_MS) / 1000)} s`);
      }
      for (const j of slos) if (j.breached) decisionReasons.push(`the candidate breaches ${j.slo}: ${j.candidate} against ${j.objective}${j.baseline !== undefined ? ` (baseline ${j.baseline})` : ''}`);
      const decidedEarly = decisionReasons.length > 0;
      if (!decidedEarly && (candWindow.requests < MIN_CANDIDATE_REQUESTS || candWindow.latencySamples < MIN_LATENCY_SAMPLES)) {
        decisionReasons.push(
          `the candidate served ${candWindow.requests} routed request(s) in ${Math.round((decidedAt - canaryStart) / 1000)} s (${candWindow.latencySamples} answered after the warm-up); at least ${MIN_CANDIDATE_REQUESTS} (${MIN_LATENCY_SAMPLES}) are needed to judge it`,
        );
      }
    } else {
      decidedAt = Date.now();
      decisionReasons.push(`the candidate did not start: ${deployError}`);
    }
    decision = decisionReasons.length ? 'rollback' : 'promote';
    event('decision', { decision, reasons: decisionReasons, expected });

    // ── 5. perform it ─────────────────────────────────────────────────────────
    if (decision === 'promote') {
      const errorObjective = profile.slos.find((x) => x.indicator === 'http_error_rate')?.objective ?? 0.01;
      promoteCheck = await promote(router, candidate!, healthPath, errorObjective, ac.signal);
      event('promote-verified', promoteCheck);
      rollback = await rollBack('restore-after-promote', Date.now(), router, candidate, healthPath, ac.signal);
      event('baseline-restored', rollback);
    } else {
      rollback = await rollBack('rollback', decidedAt, router, candidate, healthPath, ac.signal);
      event('rolled-back', rollback);
    }
    if (candidate) {
      candidateLeft = {
        running: candidate.running(),
        listening: await isListening(candidate.port),
        routedAfterOut: 0,
        active: router.stats().candidate?.active ?? 0,
      };
    }

    // ── 6. the baseline carries everything; then integrity and schema ─────────
    const afterStart = Date.now();
    await sleep(AFTER_MS, undefined, { signal: ac.signal });
    afterReadiness = baseReady.fraction(afterStart, Date.now());
    if (candidateLeft) candidateLeft.routedAfterOut = (router.stats().candidate?.connections ?? 0) - (rollback.connectionsAtOut ?? 0);
    loadStop.abort();
    await k6p;
    if (k6Error) throw k6Error;
    writeLog = await writers?.stop();
    event('load-stopped', { requests: k6?.http.length, writes: writeLog?.writes.length });
    if (writeLog) {
      try {
        integrity = await checkNothingLost({ profile, world: ctx.world, baseUrl: stack.info.baseUrl, login: ctx.login, log: writeLog });
      } catch (err) {
        integrityError = ctx.redactor.redact(oneLine(err));
      }
      event('integrity-checked', integrity ? { ...integrity.writes, lost: integrity.lost.length, duplicates: integrity.duplicates.length, wrongChannel: integrity.wrongChannel.length } : { error: integrityError });
    }
    schemaAfter = await schemaFingerprints(ctx.config, stack);
    event('schema-checked', { changed: schemaChanged(schemaBefore, schemaAfter) });
  } catch (err) {
    abortReasons.push(ctx.signal?.aborted ? 'interrupted' : ctx.redactor.redact(oneLine(err)));
  } finally {
    ac.abort();
    ctx.signal?.removeEventListener('abort', onAbort);
    // The candidate goes first: nothing below may delay taking it out. The stack's teardown would stop it too.
    if (router?.stats().candidate) {
      try {
        router.setWeights({ baseline: 1, candidate: 0 });
      } catch {
        /* the router is stopping */
      }
    }
    await candidate?.stop().catch((e) => abortReasons.push(`stopping the candidate: ${oneLine(e)}`));
    writeLog ??= await writers?.stop().catch(() => undefined);
    await k6p;
    await boundaryP;
    await Promise.all([baseReady.stop(), candReady?.stop()]);
    await router?.stop();
    if (router) series = { baseline: perSecond(router, 'baseline', started), candidate: perSecond(router, 'candidate', started) };
  }

  // ── judge the rehearsal ─────────────────────────────────────────────────────
  const interrupted = !!ctx.signal?.aborted;
  const aborted = interrupted || abortReasons.length > 0;
  const decisionMs = decidedAt !== undefined ? decidedAt - (canaryStart ?? deployStart ?? decidedAt) : undefined;
  if (!aborted && decision) {
    if (deployError) failures.push(`the candidate did not start, so no rollback of routed traffic was rehearsed: ${deployError}`);
    if (decision !== expected) {
      if (decision === 'promote') {
        report(
          'drill.canary-missed',
          'decision',
          'the canary promoted a candidate that should have been rolled back',
          `promoted after ${fmtMs(decisionMs)} with no reason to roll back; ${expectedBecause}`,
          'the canary catches the candidate (a broken boundary, an SLO breach, a failed readiness) and rolls it back',
        );
      } else {
        failures.push(`rolled back a candidate expected to be promoted (${expectedBecause}): ${decisionReasons.join('; ')}`);
      }
    }
    if (rollback && !rollback.ok) {
      report('drill.rollback-incomplete', rollback.kind, `the ${rollback.kind === 'rollback' ? 'rollback' : 'restore after the promotion'} did not complete`, rollback.problems.join('; '), 'the candidate takes no connection, is stopped, and the route serves through the baseline');
    }
    if (candidateLeft && (candidateLeft.running || candidateLeft.listening || candidateLeft.routedAfterOut > 0 || candidateLeft.active > 0)) {
      report(
        'drill.rollback-incomplete',
        'candidate-left',
        'the candidate was still reachable after it was taken out',
        `running ${candidateLeft.running}, port listening ${candidateLeft.listening}, ${candidateLeft.routedAfterOut} connection(s) routed to it after weight 0, ${candidateLeft.active} still open`,
        'no process, no listening port and no routed connection left for the candidate',
      );
    }
    if (decision === 'rollback' && rollback?.ms !== undefined) {
      const ms = rollback.ms;
      const pass = rollback.ok && ms <= ROLLBACK_OBJECTIVE_MS;
      measurements.push({ slo: 'rollback-time', value: ms, unit: 'ms', objective: ROLLBACK_OBJECTIVE_MS, pass, window: `${drill.name}:canary` });
      if (ms > ROLLBACK_OBJECTIVE_MS) failures.push(`the rollback took ${fmtMs(ms)}, over the ${fmtMs(ROLLBACK_OBJECTIVE_MS)} objective`);
    }
    if (promoteCheck && !promoteCheck.ok) failures.push(`the promotion could not be verified: ${promoteCheck.problems.join('; ')}`);
    if (afterReadiness !== undefined && afterReadiness < 1) failures.push(`the baseline's readiness dropped to ${(afterReadiness * 100).toFixed(0)}% after the ${decision === 'rollback' ? 'rollback' : 'restore'}`);
    if (integrity) {
      const r = integrity;
      if (r.lost.length) report('drill.lost-write', 'lost', `${r.lost.length} acknowledged write(s) lost across the canary`, `${r.lost.length} of ${r.writes.acked} acknowledged writes are missing (e.g. ${r.lost.slice(0, 3).map((w) => `${w.marker} via ${w.via}`).join(', ')})`, 'every write acknowledged during the canary is readable through the baseline afterwards');
      if (r.duplicates.length) report('drill.duplicate-write', 'duplicates', `${r.duplicates.length} write(s) stored more than once`, `e.g. ${r.duplicates.slice(0, 3).map((d) => `${d.marker} ×${d.count} in ${d.channel}`).join(', ')}`, 'a retried write with the same idempotency key is stored once');
      if (r.wrongChannel.length) report('drill.wrong-channel', 'wrong-channel', `${r.wrongChannel.length} write(s) stored in the wrong channel`, `e.g. ${r.wrongChannel.slice(0, 3).map((w) => `${w.marker}: written to ${w.wrote}, found in ${w.found}`).join(', ')}`, 'a write appears only in the channel it was written to');
    } else if (integrityError) {
      failures.push(`the baseline could not read the integrity channels back after the change (schema or service incompatible?): ${integrityError}`);
    }
  }

  const passed = !aborted && !!decision && decision === expected && findings.length === 0 && failures.length === 0;
  const status: DrillRecord['status'] = aborted ? 'aborted' : passed ? 'passed' : 'failed';
  const finished = Date.now();
  const figures: Record<string, number> = {};
  if (decisionMs !== undefined) figures.decisionMs = decisionMs;
  if (rollback?.ms !== undefined) figures.rollbackMs = rollback.ms;
  if (candWindow && baseWindow) {
    const total = candWindow.requests + baseWindow.requests;
    figures.canaryShare = round(total ? candWindow.requests / total : 0, 3);
    figures.candidateRequests = candWindow.requests;
  } else if (decision) {
    figures.canaryShare = 0;
    figures.candidateRequests = 0;
  }
  if (boundary) figures.boundaryViolations = boundary.violations.length;
  if (integrity) {
    figures.ackedWrites = integrity.writes.acked;
    figures.lostWrites = integrity.lost.length;
  }

  const summary = aborted
    ? `aborted: ${abortReasons[0]}`
    : [
        decision === 'rollback'
          ? `rolled back the candidate after ${fmtMs(decisionMs)} (${decisionReasons[0] ?? 'no reason'}${decisionReasons.length > 1 ? `, +${decisionReasons.length - 1} more` : ''}); out and the baseline serving in ${fmtMs(rollback?.ms)}`
          : `promoted the candidate after ${fmtMs(decisionMs)} of canary at ${Math.round(weight * 100)}%; baseline restored in ${fmtMs(rollback?.ms)}`,
        decision === expected ? `as expected (${expectedBecause})` : `EXPECTED ${expected.toUpperCase()} (${expectedBecause})`,
        integrity ? `${integrity.writes.acked} acknowledged write(s), ${integrity.lost.length} lost` : undefined,
      ]
        .filter(Boolean)
        .join('; ');

  const details = ctx.redactor.redactDeep({
    decision: decision ?? null,
    expected,
    expectedBecause,
    reasons: decisionReasons,
    failures,
    abortReasons,
    weight,
    evaluateForMs: evaluateMs,
    router: router ? { url: router.url } : undefined,
    candidate: { service: entryService, env: Object.keys(candidateEnv), url: candidate?.url, deployError, left: candidateLeft },
    upstreams: { candidate: candWindow, baseline: baseWindow },
    slos,
    readiness: { candidate: candidateReadiness, baselineAfter: afterReadiness },
    boundary: boundary
      ? {
          cells: boundary.cells.length,
          violations: boundary.violations,
          serverErrors: boundary.serverErrors,
          unexpectedDenies: boundary.unexpectedDenies,
          durationMs: boundary.durationMs,
        }
      : { error: boundaryError ?? 'not run' },
    rollback,
    promote: promoteCheck,
    integrity: integrity ? { ...integrity.writes, lost: integrity.lost.length, lostSample: integrity.lost.slice(0, 5).map((w) => w.marker), duplicates: integrity.duplicates.length, wrongChannel: integrity.wrongChannel.length } : { error: integrityError ?? (profile.integrity ? 'not run' : 'the profile declares no integrity') },
    schema: { changed: schemaChanged(schemaBefore, schemaAfter), before: schemaBefore, after: schemaAfter },
    load: k6 ? { script: drill.load?.script, requests: k6.http.length, thresholdsOk: k6.thresholdsOk, exitCodes: k6.exitCodes } : undefined,
  });
  // An interrupted run writes no partial report: the log too is left out.
  if (!interrupted) {
    writeFileSync(
      join(ctx.outDir, 'canary-log.json'),
      `${JSON.stringify(ctx.redactor.redactDeep({ drill: drill.name, runId: ctx.runId, startedAt: new Date(started).toISOString(), finishedAt: new Date(finished).toISOString(), status, ...(details as object), timeline, routerAtDecision: statsAtDecision, series }), null, 2)}\n`,
    );
  }

  const record: DrillRecord = {
    name: drill.name,
    kind: 'canary',
    status,
    startedAt: new Date(started).toISOString(),
    completedAt: new Date(finished).toISOString(),
    summary: ctx.redactor.redact(summary),
    figures,
    details,
    ...(interrupted ? {} : { files: [`drills/${drill.name}/canary-log.json`] }),
  };
  const firstProblem = abortReasons[0] ?? failures[0] ?? findings[0]?.title;
  const check: CheckResult = {
    name: `drill > ${drill.name}`,
    suite,
    state: passed ? 'passed' : 'failed',
    durationMs: finished - started,
    ...(passed || !firstProblem ? {} : { error: ctx.redactor.redact(firstProblem) }),
    findings: findings.length,
    findingIds: findings.map((f) => f.id),
  };
  return { record, findings, measurements, check };
};

/** The drill file that defines this drill (by identity), relative to the root; its conventional name when it cannot be found. */
async function drillSource(drill: CanaryDrill, config: ResolvedConfig): Promise<string> {
  const dir = resolve(config.rootDir, config.drillDir);
  try {
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts') && !x.endsWith('.d.ts')).sort()) {
      const mod = (await import(pathToFileURL(join(dir, f)).href)) as { default?: unknown };
      if (mod.default === drill) return relative(config.rootDir, join(dir, f));
    }
  } catch {
    /* a drill given directly (a test) or a broken file: the conventional name */
  }
  return `${config.drillDir}/${drill.name}.ts`;
}

function skipped(drill: CanaryDrill, suite: string, started: number, reason: string): DrillOutcome {
  const at = new Date().toISOString();
  return {
    record: { name: drill.name, kind: 'canary', status: 'aborted', startedAt: new Date(started).toISOString(), completedAt: at, summary: reason, figures: {}, details: { decision: null, reasons: [reason] } },
    findings: [],
    measurements: [],
    check: { name: `drill > ${drill.name}`, suite, state: 'skipped', durationMs: Date.now() - started, error: reason, findings: 0, findingIds: [] },
  };
}

/** One second of one upstream's routed traffic, for reading the log: `at` is ms since the drill started. */
interface SeriesPoint {
  at: number;
  requests: number;
  errors: number;
  p95Ms?: number;
}

function perSecond(router: WeightedRouter, name: string, started: number): SeriesPoint[] {
  const buckets = new Map<number, { ms: number[]; errors: number; requests: number }>();
  for (const e of router.exchanges(name)) {
    const k = Math.floor((e.t - started) / 1000);
    let b = buckets.get(k);
    if (!b) buckets.set(k, (b = { ms: [], errors: 0, requests: 0 }));
    b.requests++;
    if (e.status === 0 || e.status >= 500) b.errors++;
    if (e.status > 0) b.ms.push(e.ms);
  }
  return [...buckets]
    .sort(([a], [b]) => a - b)
    .map(([k, b]) => ({ at: k * 1000, requests: b.requests, errors: b.errors, ...(b.ms.length ? { p95Ms: round(percentile(Float64Array.from(b.ms).sort(), 95), 1) } : {}) }));
}

function upstreamWindow(router: WeightedRouter, name: string, from: number, to: number, before: UpstreamStats | undefined, now: UpstreamStats, latencyFrom = from): UpstreamWindow {
  const ex = router.exchanges(name, from, to).filter((e) => !e.cut);
  const connectErrors = now.connectErrors - (before?.connectErrors ?? 0);
  const answered = Float64Array.from(ex.filter((e) => e.status > 0 && e.t >= latencyFrom).map((e) => e.ms)).sort();
  const statuses: Record<string, number> = {};
  for (const e of ex) {
    const k = e.status === 0 ? 'none' : `${Math.floor(e.status / 100)}xx`;
    statuses[k] = (statuses[k] ?? 0) + 1;
  }
  if (connectErrors) statuses.connect = connectErrors;
  const requests = ex.length + connectErrors;
  const errors = ex.filter((e) => e.status === 0 || e.status >= 500).length + connectErrors;
  return {
    requests,
    errors,
    ...(requests ? { errorRate: round(errors / requests, 4) } : {}),
    ...(answered.length ? { p95Ms: round(percentile(answered, 95), 1) } : {}),
    latencyFrom,
    latencySamples: answered.length,
    statuses,
    connections: now.connections - (before?.connections ?? 0),
  };
}

/**
 * The profile's HTTP latency, error-rate and readiness SLOs, candidate
 * against objective. A miss the baseline shares over the same window (the
 * machine is loaded) counts against the candidate only when it is clearly
 * worse than the baseline.
 */
function judgeSlos(defs: SloDefinition[], cand: UpstreamWindow, base: UpstreamWindow, candReady: number | undefined, baseReady: number | undefined): SloJudgement[] {
  const out: SloJudgement[] = [];
  for (const s of defs) {
    if (s.indicator === 'http_latency_p95_ms' && cand.latencySamples < MIN_LATENCY_SAMPLES) {
      out.push({ slo: s.id, indicator: s.indicator, objective: s.objective, breached: false, note: `not judged: ${cand.latencySamples} answered request(s) after the ${fmtMs(WARMUP_MS)} warm-up, at least ${MIN_LATENCY_SAMPLES} needed` });
    } else if (s.indicator === 'http_latency_p95_ms' && cand.p95Ms !== undefined) {
      const miss = cand.p95Ms > s.objective;
      const shared = base.p95Ms !== undefined && base.p95Ms > s.objective && cand.p95Ms <= base.p95Ms * LATENCY_FACTOR + LATENCY_SLACK_MS;
      out.push({ slo: s.id, indicator: s.indicator, objective: s.objective, candidate: cand.p95Ms, baseline: base.p95Ms, breached: miss && !shared, ...(miss && shared ? { note: 'the baseline misses it too' } : {}) });
    } else if (s.indicator === 'http_error_rate' && cand.errorRate !== undefined) {
      const miss = cand.errorRate > s.objective;
      const shared = base.errorRate !== undefined && base.errorRate > s.objective && cand.errorRate <= base.errorRate + s.objective;
      out.push({ slo: s.id, indicator: s.indicator, objective: s.objective, candidate: cand.errorRate, baseline: base.errorRate, breached: miss && !shared, ...(miss && shared ? { note: 'the baseline misses it too' } : {}) });
    } else if (s.indicator === 'readiness' && candReady !== undefined) {
      const miss = candReady < s.objective;
      const shared = baseReady !== undefined && baseReady < s.objective && candReady >= baseReady - READINESS_SLACK;
      out.push({ slo: s.id, indicator: s.indicator, objective: s.objective, candidate: round(candReady, 4), baseline: baseReady === undefined ? undefined : round(baseReady, 4), breached: miss && !shared, ...(miss && shared ? { note: 'the baseline misses it too' } : {}) });
    }
  }
  return out;
}

/** Every new connection to the candidate for a moment: it must take them and serve. */
async function promote(router: WeightedRouter, candidate: StartedInstance, healthPath: string, errorObjective: number, signal: AbortSignal): Promise<PromoteCheck> {
  const before = router.stats().candidate!;
  router.setWeights({ baseline: 0, candidate: 1 });
  const from = Date.now();
  router.rebalance('baseline');
  const served = (await waitServing(`${router.url}${healthPath}`, from + SERVING_TIMEOUT_MS, signal)) !== undefined;
  await sleep(PROMOTE_VERIFY_MS, undefined, { signal });
  const after = router.stats();
  const win = upstreamWindow(router, 'candidate', from, Date.now(), before, after.candidate!);
  const problems: string[] = [];
  if (!served) problems.push(`the route did not serve ${healthPath} through the candidate within ${fmtMs(SERVING_TIMEOUT_MS)}`);
  if (!candidate.running()) problems.push('the candidate exited after the promotion');
  if (win.connections === 0) problems.push('no new connection reached the candidate');
  if (win.errorRate !== undefined && win.errorRate > errorObjective) problems.push(`the candidate failed ${win.errors} of ${win.requests} request(s) at 100%`);
  return { ok: problems.length === 0, newConnections: win.connections, served, errors: win.errors, requests: win.requests, problems };
}

/** Candidate out of the route (weight 0), its connections closed, the process stopped, and the route serving through the baseline. */
async function rollBack(kind: RollbackRecord['kind'], t0: number, router: WeightedRouter, candidate: StartedInstance | undefined, healthPath: string, signal: AbortSignal): Promise<RollbackRecord> {
  const problems: string[] = [];
  const rec: RollbackRecord = { kind, from: t0, ok: false, problems };
  if (router.stats().candidate) router.setWeights({ baseline: 1, candidate: 0 });
  rec.routedOutMs = Date.now() - t0;
  rec.connectionsAtOut = router.stats().candidate?.connections ?? 0;
  rec.drainedConnections = await router.drain('candidate', { graceMs: DRAIN_GRACE_MS });
  if (candidate) {
    try {
      await candidate.stop();
    } catch (err) {
      problems.push(`stopping the candidate failed: ${oneLine(err)}`);
    }
    if (candidate.running()) problems.push('the candidate process is still running');
  }
  rec.stoppedMs = Date.now() - t0;
  const servingAt = await waitServing(`${router.url}${healthPath}`, Date.now() + SERVING_TIMEOUT_MS, signal);
  if (servingAt === undefined) problems.push(`the route did not serve ${healthPath} through the baseline within ${fmtMs(SERVING_TIMEOUT_MS)}`);
  else rec.servingMs = servingAt - t0;
  rec.ms = (servingAt ?? Date.now()) - t0;
  rec.ok = problems.length === 0;
  return rec;
}

/** Polls a URL on fresh connections until it answers 200; the moment it did, or undefined at the deadline. */
async function waitServing(url: string, deadline: number, signal: AbortSignal): Promise<number | undefined> {
  while (Date.now() < deadline) {
    if ((await statusOf(url, 1000)) === 200) return Date.now();
    await sleep(50, undefined, { signal });
  }
  return undefined;
}

/** One GET on its own connection (so the router chooses anew); 0 when it fails. */
function statusOf(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolvePromise) => {
    const req = httpGet(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolvePromise(res.statusCode ?? 0));
      res.once('error', () => resolvePromise(0));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolvePromise(0));
  });
}

/**
 * A digest of each Postgres service's schema (`pg_dump --schema-only`), taken
 * straight from its port. Before the candidate and after the change: a
 * candidate that migrated the schema shows up here, and the baseline must
 * still serve on it. Unavailable (no pg_dump, another provider): a note.
 */
async function schemaFingerprints(config: ResolvedConfig, stack: StartedStack): Promise<Record<string, string> | undefined> {
  const pg = Object.entries(config.target.stack.services).filter(([, s]) => s.kind === 'postgres') as Array<[string, PostgresService]>;
  if (!pg.length) return undefined;
  const bin = postgresBinDir();
  const out: Record<string, string> = {};
  for (const [name, s] of pg) {
    const port = stack.info.services[name]?.port;
    if (!bin || !port || stack.info.provider !== 'local') {
      out[name] = 'unavailable: pg_dump or the service port is not at hand';
      continue;
    }
    out[name] = await new Promise<string>((done) => {
      execFile(
        join(bin, 'pg_dump'),
        ['--schema-only', '--no-owner', '--no-privileges', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', s.database],
        { timeout: PG_DUMP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '5' } },
        (err, stdout) => {
          if (err) return done(`unavailable: ${oneLine(err)}`);
          const body = stdout
            .split('\n')
            // Comments, and psql meta-commands (pg_dump 15.14+ wraps the dump in `\restrict <random key>`), are not schema.
            .filter((l) => l.trim() && !l.startsWith('--') && !l.startsWith('\\'))
            .join('\n');
          done(`sha256:${createHash('sha256').update(body).digest('hex').slice(0, 16)}`);
        },
      );
    });
  }
  return out;
}

function schemaChanged(before: Record<string, string> | undefined, after: Record<string, string> | undefined): boolean | 'unknown' {
  if (!before || !after) return 'unknown';
  const keys = Object.keys(before);
  if (keys.some((k) => before[k]!.startsWith('unavailable') || !after[k] || after[k]!.startsWith('unavailable'))) return 'unknown';
  return keys.some((k) => before[k] !== after[k]);
}

function cellLine(c: { boundary: string; principal: string; request: string; status: number; op: string; resource: string }): string {
  return `${c.boundary}: ${c.principal} ${c.op} ${c.resource} (${c.request} → ${c.status})`;
}

function fmtMs(ms: number | undefined): string {
  return ms === undefined ? '?' : ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
