import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load-config.ts';
import { scenarioPlan, type ScenarioDefinition } from '../config/scenario.ts';
import type { Credentials, Severity, SloDefinition } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import { FaultInjector, resolveLink, resolveService, unsupported, type AppliedFault, type RollbackRecord } from '../faults/injector.ts';
import { runTimeline } from '../faults/timeline.ts';
import { harnessLoad } from '../load/harness-load.ts';
import { peekHttpWindow, percentile, runK6, type K6Run, type ThresholdResult } from '../load/k6-runner.ts';
import { checkNothingLost, IntegrityWriters, type IntegrityReport, type WriteLog } from '../probes/integrity.ts';
import { ReadinessProbe } from '../probes/readiness.ts';
import type { Redactor } from '../safety/redact.ts';
import type { StartedStack } from '../stack/types.ts';
import { credentialSecrets } from '../suite/http-auth.ts';
import { findingReporter } from './finding-reporter.ts';
import type { CheckResult, Finding, Measurement } from './result.ts';

export type ScenarioStatus = 'ok' | 'deviated' | 'aborted';
export type Phase = 'before' | 'during' | 'after';

/** One steady-state indicator judged over one phase. */
export interface ProbeResult {
  slo: string;
  indicator: SloDefinition['indicator'];
  /** undefined: nothing measured it in this phase (e.g. the load emits no such metric). */
  value?: number;
  /** The SLO objective (before, after) or the scenario's tolerance (during). */
  objective: number;
  pass?: boolean;
  samples: number;
}

export interface PhaseResult {
  from: number;
  to: number;
  probes: ProbeResult[];
}

/** Everything a scenario did and saw, on one clock (epoch ms). The reports and the gate read it from run.json. */
export interface ScenarioJournal {
  name: string;
  description: string;
  status: ScenarioStatus;
  /** Why it deviated or was aborted, one line each. */
  reasons: string[];
  /** What was seen but is not a finding (e.g. a timing miss in only 1 of 3 thirds of a window). */
  notes?: string[];
  startedAt: string;
  finishedAt: string;
  plan: { baselineMs: number; methodMs: number; recoveryBoundMs: number; afterMs: number };
  faults: AppliedFault[];
  phases: Partial<Record<Phase, PhaseResult>>;
  /** From the end of the last fault until the hypothesis held again; absent when it never did. */
  recoveryMs?: number;
  recovered: boolean;
  hungRequests: number;
  integrity?: Omit<IntegrityReport, 'lost'> & { lost: number; lostSample: string[] };
  load?: {
    script: string;
    runners: number;
    exitCodes: number[];
    requests: number;
    thresholds: ThresholdResult[];
    thresholdsOk: boolean;
    /** How the load ended: the harness stops it once the after phase is measured. */
    ended: string;
  };
  rollbacks: RollbackRecord[];
  /** Per-second p95 latency and error rate of the load, for charts. */
  series: Array<{ t: number; p95Ms: number; errorRate: number; count: number }>;
}

export interface ScenarioOutcome {
  journal: ScenarioJournal;
  findings: Finding[];
  measurements: Measurement[];
  check: CheckResult;
}

export interface ScenarioRunOptions {
  scenario: ScenarioDefinition;
  /** Where the scenario was defined (for reproduce commands). */
  source: string;
  config: ResolvedConfig;
  stack: StartedStack;
  world: unknown;
  runId: string;
  /** The run's output dir; the scenario writes raw load output under `<outDir>/scenarios/<name>/`. */
  outDir: string;
  redactor: Redactor;
  signal?: AbortSignal;
  onStep?: (step: string) => void;
}

const DEFAULT_SEVERITY: Record<string, Severity> = {
  'chaos.lost-write': 'critical',
  'chaos.wrong-channel': 'critical',
  'chaos.duplicate-write': 'high',
  'chaos.recovery': 'high',
  'chaos.slo-during': 'high',
  'chaos.slo-after': 'high',
  'chaos.hung-requests': 'high',
};

const UNIT: Record<SloDefinition['indicator'], string> = {
  http_latency_p95_ms: 'ms',
  http_error_rate: 'ratio',
  ws_delivery_p95_ms: 'ms',
  ws_reconnect_success_rate: 'ratio',
  readiness: 'ratio',
};

/** Lower is better for latencies and error rates; higher is better for the success rates and readiness. */
function meets(indicator: SloDefinition['indicator'], value: number, objective: number): boolean {
  return indicator === 'ws_reconnect_success_rate' || indicator === 'readiness' ? value >= objective : value <= objective;
}

/** Resolves every reference of the scenario against the profile, and says why the stack cannot run it (if it cannot). */
export function checkScenarioFits(s: ScenarioDefinition, config: ResolvedConfig, stack: Pick<StartedStack, 'toxiproxy' | 'processes'>): string | undefined {
  for (const step of s.method) {
    const f = step.fault;
    if ('toxic' in f) resolveLink(f.link, config.target.stack);
    else if ('down' in f) resolveLink(f.down, config.target.stack);
    else resolveService('kill' in f ? f.kill : f.pause, config.target.stack);
    const why = unsupported(f, stack);
    if (why) return why;
  }
  for (const id of [...(s.steadyState?.slos ?? []), ...Object.keys(s.steadyState?.during ?? {})]) {
    if (!config.target.slos.some((slo) => slo.id === id)) {
      throw new BreakwaterError('BW_CONFIG_INVALID', `scenario ${s.name} names SLO "${id}", which the profile does not declare (SLOs: ${config.target.slos.map((x) => x.id).join(', ')})`);
    }
  }
  return undefined;
}

/**
 * Runs one chaos scenario on a started, seeded stack: load and writers start,
 * the baseline is measured, the faults go in and out on their timeline, the
 * service must recover within the bound and hold its SLOs afterwards, and
 * every acknowledged write must still be there. The rollback runs on every
 * path out of here, including an abort and an exception.
 */
export async function runScenario(opts: ScenarioRunOptions): Promise<ScenarioOutcome> {
  const { scenario: s, config, stack } = opts;
  const profile = config.target;
  const plan = scenarioPlan(s);
  const started = Date.now();
  const workDir = join(opts.outDir, 'scenarios', s.name);
  mkdirSync(workDir, { recursive: true });
  const reasons: string[] = [];
  let aborted = false;
  /** Set when the baseline itself missed an objective: the experiment says nothing, so the scenario is inconclusive, not failed. */
  let baselineMissed: string | undefined;
  const slos = profile.slos.filter((x) => !s.steadyState?.slos || s.steadyState.slos.includes(x.id));

  // An abort of the run, or an exception here, stops the load and the writers; the rollback follows in `finally`.
  const ac = new AbortController();
  const loadStop = new AbortController();
  const onAbort = () => ac.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) ac.abort();

  const entry = profile.stack.links.find((l) => l.name === profile.stack.entry)!;
  const app = profile.stack.services[entry.to];
  const healthPath = app && app.kind === 'process' ? app.health.path : '/';
  const readiness = new ReadinessProbe(new URL(healthPath, opts.stack.info.baseUrl).href);
  const injector = new FaultInjector(profile.stack, stack, `bw-${s.name}`);
  const creds = new Map<string, Promise<Credentials>>();
  const login = (p: string): Promise<Credentials> => {
    const def = profile.principals[p];
    if (!def) return Promise.reject(new BreakwaterError('BW_PROFILE_INVALID', `integrity.channels names principal "${p}", which the profile does not declare`));
    let c = creds.get(p);
    if (!c) {
      c = def.login({ baseUrl: stack.info.baseUrl, world: opts.world, runId: opts.runId });
      creds.set(p, c);
    }
    return c;
  };
  const writers =
    profile.integrity && s.integrity !== false
      ? new IntegrityWriters({
          profile,
          world: opts.world,
          baseUrl: stack.info.baseUrl,
          runId: `${opts.runId}-${s.name}`,
          login,
          ratePerSecond: s.integrity?.ratePerSecond,
          via: s.integrity?.via,
          signal: ac.signal,
        })
      : undefined;

  let k6: K6Run | undefined;
  let k6Error: unknown;
  let writeLog: WriteLog | undefined;
  let methodStart: number | undefined;
  let baselineEnd: number | undefined;
  let faultsEnd: number | undefined;
  let recoveredAt: number | undefined;
  const loadMs = plan.baselineMs + plan.methodMs + plan.recoveryMs + plan.afterMs;

  try {
    opts.onStep?.(`scenario ${s.name}: starting load and writers`);
    readiness.start();
    await writers?.start();
    for (const c of creds.values()) for (const v of credentialSecrets(await c)) if (v.length >= 8) opts.redactor.add(v);
    const k6p = runK6({
      ...harnessLoad({
        rootDir: config.rootDir,
        load: s.load,
        baseUrl: stack.info.baseUrl,
        realtimePath: profile.realtime?.path,
        runId: stack.info.runId,
        durationMs: loadMs + 10_000,
        workDir,
        // Stopped by the run's abort, or by us once the after phase has been measured.
        signal: AbortSignal.any([ac.signal, loadStop.signal]),
        timeoutMs: loadMs + 120_000,
      }),
      runners: s.load.runners ?? 1,
    }).then(
      (r) => (k6 = r),
      (err) => {
        k6Error = err;
      },
    );

    // Baseline: the hypothesis must hold before anything is broken, or the experiment is not run.
    await sleep(plan.baselineMs, undefined, { signal: ac.signal });
    if (k6Error) throw k6Error;
    baselineEnd = Date.now();
    const tail = baselineEnd - Math.min(2000, plan.baselineMs / 2);
    const ready = readiness.fraction(tail, baselineEnd);
    if (ready !== undefined && ready < 1) {
      baselineMissed = `readiness ${(ready * 100).toFixed(0)}% in the last ${Math.round((baselineEnd - tail) / 1000)} s`;
    } else {
      // The HTTP objectives, from what k6 has written so far: judged before any fault goes in.
      const w = await peekHttpWindow(workDir, s.load.runners ?? 1, baselineEnd - plan.baselineMs, baselineEnd);
      for (const slo of slos) {
        if (!w.count || (slo.indicator !== 'http_latency_p95_ms' && slo.indicator !== 'http_error_rate')) continue;
        const value = slo.indicator === 'http_latency_p95_ms' ? round(w.p95Ms) : round(w.errorRate, 4);
        if (!meets(slo.indicator, value, slo.objective)) baselineMissed ??= `${slo.id} was ${value} against ${slo.objective} over ${w.count} requests`;
      }
    }
    if (baselineMissed) {
      reasons.push(`the baseline itself missed the objective before any fault (${baselineMissed}): no fault was applied, so the scenario is inconclusive`);
      aborted = true;
    }

    if (!aborted) {
      methodStart = Date.now();
      opts.onStep?.(`scenario ${s.name}: injecting faults`);
      await runTimeline(s.method, injector, { startAt: methodStart, signal: ac.signal, onEvent: (e) => opts.onStep?.(`scenario ${s.name}: ${e}`) });
      faultsEnd = Date.now();
      opts.onStep?.(`scenario ${s.name}: waiting for recovery (bound ${Math.round(plan.recoveryMs / 1000)} s)`);
      recoveredAt = await waitRecovered(readiness, writers, faultsEnd, faultsEnd + plan.recoveryMs, ac.signal);
      if (recoveredAt === undefined) reasons.push(`did not recover within ${Math.round(plan.recoveryMs / 1000)} s of the faults ending`);
      // The after phase: the load keeps running until its planned end.
      const afterEnd = (recoveredAt ?? faultsEnd + plan.recoveryMs) + plan.afterMs;
      if (afterEnd > Date.now()) await sleep(afterEnd - Date.now(), undefined, { signal: ac.signal });
    }
    opts.onStep?.(`scenario ${s.name}: finishing the load`);
    loadStop.abort();
    await k6p;
    if (k6Error) throw k6Error;
  } catch (err) {
    aborted = true;
    reasons.push(opts.signal?.aborted ? 'interrupted' : opts.redactor.redact(oneLine(err)));
  } finally {
    ac.abort();
    opts.signal?.removeEventListener('abort', onAbort);
    // Rollback first: nothing else here may delay it. Killed services are restarted unless the run is being interrupted.
    await injector.rollback({ restart: !opts.signal?.aborted });
    // While the stack is being torn down after an interrupt, Toxiproxy may already be gone: nothing to verify then.
    if (!opts.signal?.aborted) {
      const v = await injector.verifyClean();
      if (!v.ok) reasons.push(`rollback incomplete: ${v.error}`);
    }
    await readiness.stop();
    writeLog = await writers?.stop().catch(() => undefined);
  }
  return await finish();

  async function finish(): Promise<ScenarioOutcome> {
    const measurements: Measurement[] = [];
    const interrupted = !!opts.signal?.aborted;
    const { findings, report } = findingReporter({ profile, suite: 'chaos', scope: s.name, command: `npx breakwater run --tier nightly --scenario ${s.name}`, redactor: opts.redactor, defaults: DEFAULT_SEVERITY });
    const measure = (slo: SloDefinition, from: number, to: number): { value?: number; samples: number } => {
      const inWindow = (t: number) => t >= from && t < to;
      switch (slo.indicator) {
        case 'http_latency_p95_ms':
        case 'http_error_rate': {
          if (!k6) return { samples: 0 };
          const w = k6.window(from, to);
          if (!w.count) return { samples: 0 };
          return { value: slo.indicator === 'http_latency_p95_ms' ? round(w.p95Ms) : round(w.errorRate, 4), samples: w.count };
        }
        case 'ws_delivery_p95_ms': {
          const v = (k6?.samples('ws_delivery_ms') ?? []).filter((p) => inWindow(p.t)).map((p) => p.value).sort((a, b) => a - b);
          return v.length ? { value: round(percentile(v, 95)), samples: v.length } : { samples: 0 };
        }
        case 'ws_reconnect_success_rate': {
          const v = (k6?.samples('ws_reconnect_success') ?? []).filter((p) => inWindow(p.t));
          return v.length ? { value: round(v.filter((p) => p.value > 0).length / v.length, 4), samples: v.length } : { samples: 0 };
        }
        case 'readiness': {
          const n = readiness.samples.filter((x) => inWindow(x.t)).length;
          const f = readiness.fraction(from, to);
          return f === undefined ? { samples: 0 } : { value: round(f, 4), samples: n };
        }
      }
    };
    const judge = (phase: Phase, from: number, to: number, objectiveOf: (slo: SloDefinition) => number | undefined): PhaseResult => {
      const probes: ProbeResult[] = [];
      for (const slo of slos) {
        const objective = objectiveOf(slo);
        if (objective === undefined) continue;
        const m = measure(slo, from, to);
        const pass = m.value === undefined ? undefined : meets(slo.indicator, m.value, objective);
        probes.push({ slo: slo.id, indicator: slo.indicator, value: m.value, objective, pass, samples: m.samples });
        if (m.value !== undefined) measurements.push({ slo: slo.id, value: m.value, unit: UNIT[slo.indicator], objective, pass: pass!, window: `${s.name}:${phase}` });
      }
      return { from, to, probes };
    };

    const phases: ScenarioJournal['phases'] = {};
    const loadStart = k6?.http[0]?.t ?? started;
    const beforeEnd = methodStart ?? baselineEnd;
    if (beforeEnd !== undefined) phases.before = judge('before', Math.max(loadStart, beforeEnd - plan.baselineMs), beforeEnd, (slo) => slo.objective);
    const faultStarts = injector.applied.map((f) => f.start).filter((t): t is number => t !== undefined);
    if (faultStarts.length && faultsEnd !== undefined) {
      const tol = s.steadyState?.during ?? {};
      phases.during = judge('during', Math.min(...faultStarts), faultsEnd, (slo) => tol[slo.id]);
    }
    if (recoveredAt !== undefined) {
      const before = new Map((phases.before?.probes ?? []).map((p) => [p.slo, p.value]));
      phases.after = judge('after', recoveredAt, recoveredAt + plan.afterMs, (slo) => afterObjective(slo, before.get(slo.id)));
    }

    // Indicators that could not be judged live (socket ones, or HTTP with no samples yet) are judged here, after the fact.
    if (!aborted && !interrupted) {
      const missed = (phases.before?.probes ?? []).find((p) => p.pass === false);
      if (missed) {
        baselineMissed = `${missed.slo} was ${missed.value} against ${missed.objective}`;
        reasons.push(`the baseline itself missed the objective (${baselineMissed}), judged after the method because it could not be judged live: the scenario is inconclusive`);
        aborted = true;
      }
    }

    let hung = 0;
    const notes: string[] = [];
    let integrity: ScenarioJournal['integrity'];
    if (!aborted && !interrupted) {
      for (const p of phases.during?.probes ?? []) {
        if (p.pass === false) report('chaos.slo-during', p.slo, `${p.slo} out of tolerance while faults were in place`, `${p.value} (${p.samples} samples) while ${faultSummary(injector.applied)}`, `${meetsWord(p.indicator)} ${p.objective}`);
      }
      for (const p of phases.after?.probes ?? []) {
        if (p.pass !== false) continue;
        // A timing finding needs 2 of 3: the after window in thirds, and at least two of them must miss too (a passing load spike is not a regression).
        const slo = slos.find((x) => x.id === p.slo)!;
        const third = (phases.after!.to - phases.after!.from) / 3;
        const thirds = [0, 1, 2].map((i) => measure(slo, phases.after!.from + i * third, phases.after!.from + (i + 1) * third).value);
        const missed = thirds.filter((v) => v !== undefined && !meets(slo.indicator, v, p.objective)).length;
        const detail = `${p.value} (${p.samples} samples) after recovery; by thirds of the window: ${thirds.map((v) => v ?? '–').join(', ')}`;
        if (missed >= 2) report('chaos.slo-after', p.slo, `${p.slo} not restored after the faults`, detail, `${meetsWord(p.indicator)} ${p.objective}`);
        else notes.push(`${p.slo} missed ${p.objective} over the after window (${detail}) but in only ${missed} of 3 thirds: not a finding (a timing finding needs 2 of 3)`);
      }
      if (faultsEnd !== undefined) {
        const recoveryMs = recoveredAt !== undefined ? recoveredAt - faultsEnd : undefined;
        measurements.push({ slo: 'recovery-time', value: recoveryMs ?? plan.recoveryMs, unit: 'ms', objective: plan.recoveryMs, pass: recoveryMs !== undefined, window: `${s.name}:recovery` });
        if (recoveryMs === undefined) {
          report('chaos.recovery', 'recovery', `did not recover within ${Math.round(plan.recoveryMs / 1000)} s`, `readiness last ${readiness.last()?.ok ? 'ready' : 'not ready'}; no write acknowledged after the faults within the bound`, `steady state within ${Math.round(plan.recoveryMs / 1000)} s of the last fault's removal`);
        }
      }
      if (k6 && methodStart !== undefined) {
        hung = k6.http.filter((h) => h.t >= methodStart! && h.errorCode === 1050).length;
        const allowed = s.steadyState?.hungRequests ?? 0;
        if (hung > allowed) report('chaos.hung-requests', 'requests', `${hung} request(s) never completed`, `${hung} of ${k6.http.filter((h) => h.t >= methodStart!).length} requests hit the client timeout after the faults began`, `at most ${allowed}: every request answers (an error is fine) while a dependency is down`);
      }
      if (writeLog && writers) {
        try {
          const r = await checkNothingLost({ profile, world: opts.world, baseUrl: stack.info.baseUrl, login, log: writeLog });
          integrity = { ...r, lost: r.lost.length, lostSample: r.lost.slice(0, 5).map((w) => w.marker) };
          if (r.lost.length) report('chaos.lost-write', 'lost', `${r.lost.length} acknowledged write(s) lost`, `${r.lost.length} of ${r.writes.acked} acknowledged writes are missing from their channel (e.g. ${r.lost.slice(0, 3).map((w) => `${w.marker} via ${w.via}`).join(', ')})`, 'every acknowledged write is readable after recovery');
          if (r.duplicates.length) report('chaos.duplicate-write', 'duplicates', `${r.duplicates.length} write(s) stored more than once`, `e.g. ${r.duplicates.slice(0, 3).map((d) => `${d.marker} ×${d.count} in ${d.channel}`).join(', ')}`, 'a retried write with the same idempotency key is stored once');
          if (r.wrongChannel.length) report('chaos.wrong-channel', 'wrong-channel', `${r.wrongChannel.length} write(s) delivered into the wrong channel`, `e.g. ${r.wrongChannel.slice(0, 3).map((w) => `${w.marker}: written to ${w.wrote}, found in ${w.found}`).join(', ')}`, 'a write appears only in the channel it was written to');
        } catch (err) {
          reasons.push(`the nothing-lost check could not read the channels: ${opts.redactor.redact(oneLine(err))}`);
        }
      }
    }
    if (interrupted && !reasons.includes('interrupted')) reasons.push('interrupted');

    const status: ScenarioStatus = aborted || interrupted ? 'aborted' : findings.length || reasons.length ? 'deviated' : 'ok';
    const finishedAt = Date.now();
    const journal: ScenarioJournal = {
      name: s.name,
      description: s.description,
      status,
      reasons: [...reasons, ...findings.map((f) => f.title)],
      ...(notes.length ? { notes } : {}),
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      plan: { baselineMs: plan.baselineMs, methodMs: plan.methodMs, recoveryBoundMs: plan.recoveryMs, afterMs: plan.afterMs },
      faults: injector.applied,
      phases,
      recoveryMs: recoveredAt !== undefined && faultsEnd !== undefined ? recoveredAt - faultsEnd : undefined,
      recovered: recoveredAt !== undefined,
      hungRequests: hung,
      integrity,
      load: k6 && {
        script: s.load.script,
        runners: k6.runners,
        exitCodes: k6.exitCodes,
        requests: k6.http.length,
        thresholds: k6.thresholds,
        thresholdsOk: k6.thresholdsOk,
        ended: !k6.aborted ? 'finished' : opts.signal?.aborted ? 'interrupted' : k6.abortReason && !loadStop.signal.aborted ? k6.abortReason : 'stopped by the harness after the after phase',
      },
      rollbacks: injector.rollbacks,
      series: k6 ? k6.series(1000) : [],
    };
    // A baseline that missed its objective (a loaded runner, a slow dependency) makes the experiment say nothing: inconclusive, not failed.
    const inconclusive = baselineMissed !== undefined && !interrupted && reasons.length === 1;
    const error = inconclusive ? undefined : status === 'aborted' ? opts.redactor.redact(reasons[0] ?? 'aborted') : findings.length === 0 && reasons.length ? opts.redactor.redact(reasons[0]!) : undefined;
    const check: CheckResult = {
      name: `chaos > ${s.name}`,
      suite: opts.source,
      state: inconclusive ? 'skipped' : status === 'ok' ? 'passed' : 'failed',
      durationMs: finishedAt - started,
      ...(error ? { error } : {}),
      ...(inconclusive ? { note: opts.redactor.redact(reasons[0]!), inconclusive: { cases: 1, conclusive: 0, reasons: [`the baseline missed the objective (${baselineMissed})`] } } : {}),
      findings: findings.length,
      findingIds: findings.map((f) => f.id),
    };
    return { journal, findings, measurements, check };
  }
}

/**
 * How much slower than its own baseline a latency may be once the service has
 * recovered, before "not restored" is a finding. The baseline is measured in
 * the same run on the same machine, so a slow or loaded runner raises both.
 */
export const AFTER_BASELINE_FACTOR = 1.5;

/**
 * The objective the after phase is judged against: for latencies, the SLO's
 * objective or AFTER_BASELINE_FACTOR × the run's own baseline, whichever is
 * larger, unless the SLO is `strict`; rates and readiness stay absolute.
 */
export function afterObjective(slo: Pick<SloDefinition, 'indicator' | 'objective' | 'strict'>, baseline: number | undefined): number {
  const latency = slo.indicator === 'http_latency_p95_ms' || slo.indicator === 'ws_delivery_p95_ms';
  if (!latency || slo.strict || baseline === undefined) return slo.objective;
  return Math.max(slo.objective, round(AFTER_BASELINE_FACTOR * baseline));
}

function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function meetsWord(indicator: SloDefinition['indicator']): string {
  return indicator === 'ws_reconnect_success_rate' || indicator === 'readiness' ? '≥' : '≤';
}

function faultSummary(faults: AppliedFault[]): string {
  return faults.map((f) => f.label).join(' + ') || 'faults';
}

/**
 * Waits until the service is ready again and (with writers) a write sent after
 * the faults ended was acknowledged. Returns that moment, or undefined once
 * the bound has passed.
 */
async function waitRecovered(readiness: ReadinessProbe, writers: IntegrityWriters | undefined, from: number, deadline: number, signal: AbortSignal): Promise<number | undefined> {
  while (Date.now() < deadline) {
    const last = readiness.last();
    const ready = !!last && last.t >= from && last.ok;
    const wrote = !writers || writers.latencies().some((l) => l.ok && l.t - l.ms >= from);
    if (ready && wrote) return Date.now();
    await sleep(100, undefined, { signal });
  }
  return undefined;
}
