import { mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, posix, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { faultLabel, MAX_SCENARIO_MS, spanMs } from '../config/scenario.ts';
import type { Severity } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import { FaultInjector, resolveLink, resolveService, unsupported, type RollbackRecord } from '../faults/injector.ts';
import { runTimeline } from '../faults/timeline.ts';
import { runK6, type K6Run } from '../load/k6-runner.ts';
import { findingReporter } from '../run/finding-reporter.ts';
import type { CheckResult, Finding, Measurement } from '../run/result.ts';
import { harnessLoad } from '../load/harness-load.ts';
import { renderPostmortem, renderTimeline } from './alert-postmortem.ts';
import { checkRunbooks, checkWithPromtool, loadAlertRules, type RunbookCheck } from './alert-rules.ts';
import { evaluateAlertRules, type AlertEpisode } from './alert-state.ts';
import { MetricsScraper } from './prom-scraper.ts';
import type { DrillOutcome, DrillRecord, DrillRunner, IncidentDrill } from './types.ts';

/** Load before the fault: the rules' windows see healthy traffic first. */
const BASELINE_MS = 5_000;
/** Scraping goes on this long after the fault is removed, so that page alerts (5 s short windows) are seen to resolve. */
const AFTER_MS = 7_000;
const DEFAULT_SCRAPE_EVERY = '1s';

const DEFAULT_SEVERITY: Record<string, Severity> = {
  'incident.alert-missed': 'high',
  'incident.false-page': 'high',
  'incident.runbook-missing': 'medium',
};

/** Everything the drill did and saw, on one clock (epoch ms); `record.details`, timeline.json and postmortem.md are made from it. */
export interface IncidentJournal {
  drill: string;
  description: string;
  runId: string;
  /** The clean run: the same load and scraping without the fault, where no alert may fire. */
  noFault: boolean;
  status: DrillRecord['status'];
  startedAt: number;
  completedAt: number;
  rules: { file: string; promtool: 'passed' | 'skipped'; runbooks: RunbookCheck[] };
  /** The fault as applied; absent on the clean run. */
  fault?: { label: string; plannedMs: number; start?: number; end?: number; error?: string };
  /** The span the expected alerts must fire in: the fault in place, or on the clean run the span it would have had. */
  window?: { from: number; to: number };
  scrapes: { count: number; failed: number; everyMs: number; first?: number; last?: number; errors: string[] };
  /** Every alert instance's pending, firing and resolved times. */
  alerts: AlertEpisode[];
  expected: Array<{ alert: string; fired: boolean; firingAt?: number; detectMs?: number }>;
  /** Alerts that fired outside the expectations, and why they count as such. */
  unexpected: Array<{ alert: string; labels: Record<string, string>; firingAt: number; why: string }>;
  timeToDetectMs?: number;
  /** The bound on time-to-detect: the fastest expected rule's shortest window, plus its `for:`, plus two scrapes. */
  detectObjectiveMs?: number;
  evaluationErrors: Array<{ alert: string; errors: number; firstError?: string }>;
  load?: { script: string; requests: number; exitCodes: number[]; ended: string };
  rollbacks: RollbackRecord[];
  /** Why the drill was aborted or failed besides its findings, one line each. */
  reasons: string[];
}

/**
 * Incident simulation: steady load, a baseline, a fault that should page,
 * then a few seconds after it; `/metrics` is scraped through the entry link
 * all along, and the alert rules are evaluated over what was scraped at every
 * scrape time, honouring `for:`. The expected alerts must fire while the
 * fault is in place (time-to-detect is measured from the fault's confirmed
 * start); with `options.noFault` nothing is injected and no alert may fire.
 * Every alert must link a runbook that exists. Writes `timeline.json` and a
 * pre-filled `postmortem.md` to the drill's out dir. The fault is rolled back
 * and the load stopped on every path out, including an abort.
 *
 * A rules file that cannot be read, or uses PromQL outside the evaluator's
 * subset, throws a one-line BreakwaterError before anything starts.
 */
export const runIncidentDrill: DrillRunner<IncidentDrill> = async (drill, ctx) => {
  const startedAt = Date.now();
  const profile = ctx.config.target;
  const root = ctx.config.rootDir;
  const noFault = ctx.options?.noFault === true || ctx.options?.noFault === 'true';

  // Input first: a bad drill or rules file fails before any load or fault.
  const faultMs = spanMs(drill.for);
  if (!faultMs) throw new BreakwaterError('BW_CONFIG_INVALID', `drill ${drill.name}: "for" must be a positive duration like "15s"`);
  const everyMs = spanMs(drill.scrapeEvery ?? DEFAULT_SCRAPE_EVERY);
  if (everyMs === undefined || everyMs < 100 || everyMs > 60_000) throw new BreakwaterError('BW_CONFIG_INVALID', `drill ${drill.name}: scrapeEvery must be between 100ms and 60s`);
  const plannedMs = BASELINE_MS + faultMs + AFTER_MS;
  const metricsUrl = new URL(drill.metricsPath ?? '/metrics', ctx.stack.info.baseUrl);
  // `//host/path` is a valid path reference to another host: scrapes stay on the entry link.
  if (metricsUrl.origin !== new URL(ctx.stack.info.baseUrl).origin) throw new BreakwaterError('BW_CONFIG_INVALID', `drill ${drill.name}: metricsPath "${drill.metricsPath}" leaves the entry link; give a path like /metrics`);
  if (plannedMs > MAX_SCENARIO_MS) throw new BreakwaterError('BW_CONFIG_INVALID', `drill ${drill.name} would run ${Math.round(plannedMs / 1000)} s, more than the ${MAX_SCENARIO_MS / 60_000} min bound; shorten "for"`);
  const f = drill.fault;
  const ref = 'down' in f ? f.down : 'toxic' in f ? f.link : 'kill' in f ? f.kill : f.pause;
  const target = 'down' in f || 'toxic' in f ? `link ${resolveLink(ref, profile.stack)}` : `service ${resolveService(ref, profile.stack)}`;
  // Roles are resolved in the label, so the journal and postmortem say what was really hit.
  const faultText = ref.startsWith('@') ? `${faultLabel(f)} (${target})` : faultLabel(f);
  const rulesFile = isAbsolute(drill.rules) ? drill.rules : resolve(root, drill.rules);
  const rules = loadAlertRules(rulesFile, drill.rules);
  const missing = drill.expect.filter((a) => !rules.some((r) => r.alert === a));
  if (missing.length) throw new BreakwaterError('BW_CONFIG_INVALID', `drill ${drill.name} expects alert ${missing.map((m) => `"${m}"`).join(', ')}, which ${drill.rules} does not define (alerts: ${[...new Set(rules.map((r) => r.alert))].join(', ')})`);
  const promtool = await checkWithPromtool(rulesFile, drill.rules);
  const runbooks = checkRunbooks(rules, root);
  const why = noFault ? undefined : unsupported(drill.fault, ctx.stack);
  if (why) throw new BreakwaterError('BW_USAGE', `drill ${drill.name} cannot inject ${faultText}: ${why}`);

  mkdirSync(ctx.outDir, { recursive: true });
  const reasons: string[] = [];
  let aborted = false;

  // The run's abort, or an exception here, ends the waits; the rollback and the stops follow in `finally`.
  const ac = new AbortController();
  const loadStop = new AbortController();
  const onAbort = () => ac.abort();
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal?.aborted) ac.abort();
  const scraper = new MetricsScraper({ url: metricsUrl.href, everyMs, maxScrapes: Math.ceil((plannedMs + 60_000) / everyMs), maxDurationMs: plannedMs + 60_000 });
  const injector = new FaultInjector(profile.stack, ctx.stack, `bw-drill-${drill.name}`);
  let k6: K6Run | undefined;
  let k6Error: unknown;
  let k6p: Promise<unknown> = Promise.resolve();
  let faultWindow: IncidentJournal['window'];

  try {
    ctx.onStep?.(`drill ${drill.name}: scraping ${metricsUrl.href} every ${everyMs} ms${drill.load ? ' under load' : ''}`);
    scraper.start();
    if (drill.load) {
      k6p = runK6(
        harnessLoad({
          rootDir: root,
          load: drill.load,
          baseUrl: ctx.stack.info.baseUrl,
          realtimePath: profile.realtime?.path,
          runId: ctx.stack.info.runId,
          durationMs: plannedMs + 10_000,
          workDir: join(ctx.outDir, 'load'),
          signal: AbortSignal.any([ac.signal, loadStop.signal]),
          timeoutMs: plannedMs + 120_000,
        }),
      ).then(
        (r) => (k6 = r),
        (err) => {
          k6Error = err;
        },
      );
    }
    await sleep(BASELINE_MS, undefined, { signal: ac.signal });
    if (k6Error) throw k6Error;

    const from = Date.now();
    if (noFault) {
      ctx.onStep?.(`drill ${drill.name}: clean run, no fault for ${faultMs} ms`);
      await sleep(faultMs, undefined, { signal: ac.signal });
      faultWindow = { from, to: Date.now() };
    } else {
      ctx.onStep?.(`drill ${drill.name}: injecting ${faultText} for ${faultMs} ms`);
      await runTimeline([{ at: 0, for: drill.for, fault: drill.fault, label: faultText }], injector, { startAt: from, signal: ac.signal, onEvent: (e) => ctx.onStep?.(`drill ${drill.name}: ${e}`) });
      const f = injector.applied[0]!;
      faultWindow = { from: f.start!, to: f.end ?? Date.now() };
    }
    await sleep(AFTER_MS, undefined, { signal: ac.signal });
    if (k6Error) throw k6Error;
    ctx.onStep?.(`drill ${drill.name}: stopping the load, evaluating ${rules.length} rule(s)`);
  } catch (err) {
    aborted = true;
    reasons.push(ctx.signal?.aborted ? 'interrupted' : ctx.redactor.redact(oneLine(err)));
  } finally {
    ac.abort();
    ctx.signal?.removeEventListener('abort', onAbort);
    // Rollback first: nothing else may delay it. Killed services are restarted unless the run is being interrupted.
    await injector.rollback({ restart: !ctx.signal?.aborted });
    if (!ctx.signal?.aborted && injector.applied.length) {
      const v = await injector.verifyClean();
      if (!v.ok) reasons.push(`rollback incomplete: ${v.error}`);
    }
    await scraper.stop();
    loadStop.abort();
    await k6p;
  }

  // ── judge ──
  const interrupted = !!ctx.signal?.aborted;
  const store = scraper.store;
  const evaluations = evaluateAlertRules(rules, store, store.scrapes.map((s) => s.t));
  const episodes = evaluations.flatMap((e) => e.episodes).sort((a, b) => a.pendingAt - b.pendingAt);
  const fired = episodes.filter((e) => e.firingAt !== undefined);
  const inWindow = (t: number) => !!faultWindow && t >= faultWindow.from && t <= faultWindow.to;

  const expected: IncidentJournal['expected'] = [];
  const unexpected: IncidentJournal['unexpected'] = [];
  let timeToDetectMs: number | undefined;
  let detectObjectiveMs: number | undefined;
  if (!noFault) {
    for (const alert of drill.expect) {
      const first = fired.filter((e) => e.alert === alert && inWindow(e.firingAt!)).map((e) => e.firingAt!).sort((a, b) => a - b)[0];
      expected.push({ alert, fired: first !== undefined, ...(first !== undefined ? { firingAt: first, detectMs: first - faultWindow!.from } : {}) });
    }
    const detections = expected.filter((x) => x.detectMs !== undefined).map((x) => x.detectMs!);
    if (detections.length) timeToDetectMs = Math.min(...detections);
    const bounds = rules.filter((r) => drill.expect.includes(r.alert)).map((r) => (r.windowsMs.length ? Math.min(...r.windowsMs) : 0) + r.forMs + 2 * everyMs);
    detectObjectiveMs = Math.min(...bounds);
  }
  for (const e of fired) {
    const t = e.firingAt!;
    if (noFault) unexpected.push({ alert: e.alert, labels: e.labels, firingAt: t, why: 'fired on the clean run, without a fault' });
    else if (!drill.expect.includes(e.alert)) unexpected.push({ alert: e.alert, labels: e.labels, firingAt: t, why: 'not among the expected alerts' });
    else if (!inWindow(t)) unexpected.push({ alert: e.alert, labels: e.labels, firingAt: t, why: faultWindow && t < faultWindow.from ? 'fired before the fault' : 'fired only after the fault was removed' });
  }

  const { findings, report } = findingReporter({ profile, suite: 'drill', scope: drill.name, command: `npx breakwater run --tier drill --drill ${drill.name}`, redactor: ctx.redactor, defaults: DEFAULT_SEVERITY });
  for (const rb of runbooks) {
    if (!rb.ok) report('incident.runbook-missing', rb.alert, `alert ${rb.alert} has no runbook`, `${rb.alert} in ${drill.rules}: ${rb.problem}`, 'every alert links a runbook (annotations.runbook_url) that exists in the repository and is not empty');
  }
  if (!aborted && !interrupted) {
    if (noFault) {
      for (const u of unexpected) {
        report('incident.false-page', u.alert, `alert ${u.alert} fired without a fault`, `${u.alert}${labelText(u.labels)} fired ${secondsAfter(u.firingAt, startedAt)} into the clean run (value ${valueOf(episodes, u)})`, 'no alert fires on a healthy target under steady load');
      }
    } else {
      for (const x of expected) {
        if (!x.fired) report('incident.alert-missed', x.alert, `alert ${x.alert} did not fire during ${faultText}`, `${x.alert} did not fire while ${faultText} was in place for ${Math.round((faultWindow!.to - faultWindow!.from) / 1000)} s (${describeEpisodes(episodes, x.alert, faultWindow!.from)})`, `${x.alert} fires while the fault is in place`);
      }
    }
  }

  const failedScrapes = store.scrapes.filter((s) => !s.ok).length;
  if (!aborted && store.scrapes.length && failedScrapes === store.scrapes.length) reasons.push(`every scrape of ${drill.metricsPath ?? '/metrics'} failed: ${scraper.errors[0] ?? 'unknown'}`);
  for (const e of evaluations) if (e.errors) reasons.push(`rule ${e.alert} failed ${e.errors} of ${e.evaluations} evaluations: ${e.firstError}`);

  const status: DrillRecord['status'] = aborted || interrupted ? 'aborted' : findings.length || reasons.length ? 'failed' : 'passed';
  const completedAt = Date.now();
  const applied = injector.applied[0];
  const journal: IncidentJournal = {
    drill: drill.name,
    description: drill.description,
    runId: ctx.runId,
    noFault,
    status,
    startedAt,
    completedAt,
    rules: { file: drill.rules, promtool, runbooks },
    ...(noFault ? {} : { fault: { label: applied?.label ?? faultText, plannedMs: faultMs, ...(applied?.start !== undefined ? { start: applied.start } : {}), ...(applied?.end !== undefined ? { end: applied.end } : {}), ...(applied?.error ? { error: applied.error } : {}) } }),
    ...(faultWindow ? { window: faultWindow } : {}),
    scrapes: { count: store.scrapes.length, failed: failedScrapes, everyMs, first: store.scrapes[0]?.t, last: store.scrapes.at(-1)?.t, errors: [...scraper.errors] },
    alerts: episodes,
    expected,
    unexpected,
    ...(timeToDetectMs !== undefined ? { timeToDetectMs } : {}),
    ...(detectObjectiveMs !== undefined ? { detectObjectiveMs } : {}),
    evaluationErrors: evaluations.filter((e) => e.errors).map((e) => ({ alert: e.alert, errors: e.errors, firstError: e.firstError })),
    ...(drill.load && k6 ? { load: { script: drill.load.script, requests: k6.http.length, exitCodes: k6.exitCodes, ended: interrupted ? 'interrupted' : k6.aborted ? 'stopped by the harness after the drill' : 'finished' } } : {}),
    rollbacks: injector.rollbacks,
    reasons,
  };
  const redacted = ctx.redactor.redactDeep(journal);

  const relDir = posix.join('drills', drill.name);
  writeFileSync(join(ctx.outDir, 'timeline.json'), `${JSON.stringify(renderTimeline(redacted), null, 2)}\n`);
  writeFileSync(join(ctx.outDir, 'postmortem.md'), ctx.redactor.redact(renderPostmortem(redacted, { outDir: ctx.outDir, rootDir: root })));

  const measurements: Measurement[] = [];
  if (!noFault && !aborted && !interrupted && faultWindow && detectObjectiveMs !== undefined) {
    const value = timeToDetectMs ?? faultWindow.to - faultWindow.from;
    measurements.push({ slo: 'time-to-detect', value, unit: 'ms', objective: detectObjectiveMs, pass: timeToDetectMs !== undefined && timeToDetectMs <= detectObjectiveMs, window: `${drill.name}:incident` });
  }
  const figures: Record<string, number> = { scrapes: store.scrapes.length, alertsFired: fired.length };
  if (timeToDetectMs !== undefined) figures.timeToDetectMs = timeToDetectMs;

  const record: DrillRecord = {
    name: drill.name,
    kind: 'incident',
    status,
    startedAt: new Date(startedAt).toISOString(),
    completedAt: new Date(completedAt).toISOString(),
    summary: ctx.redactor.redact(summarize(redacted, findings.length)),
    figures,
    details: redacted,
    files: [posix.join(relDir, 'timeline.json'), posix.join(relDir, 'postmortem.md')],
  };
  const error = status === 'aborted' ? (reasons[0] ?? 'aborted') : !findings.length && reasons.length ? reasons[0] : undefined;
  const check: CheckResult = {
    name: `drill > ${drill.name}`,
    // DrillContext does not carry the drill's file; drills are named after their file in the drill directory.
    suite: posix.join(ctx.config.drillDir.split('\\').join('/'), `${drill.name}.ts`),
    state: status === 'passed' ? 'passed' : 'failed',
    durationMs: completedAt - startedAt,
    ...(error ? { error: ctx.redactor.redact(error) } : {}),
    findings: findings.length,
    findingIds: findings.map((f) => f.id),
  };
  const outcome: DrillOutcome = { record, findings, measurements, check };
  return outcome;
};

function labelText(labels: Record<string, string>): string {
  const own = Object.entries(labels).filter(([k]) => k !== 'alertname' && k !== 'severity');
  return own.length ? `{${own.map(([k, v]) => `${k}="${v}"`).join(', ')}}` : '';
}

function secondsAfter(t: number, from: number): string {
  return `${((t - from) / 1000).toFixed(1)} s`;
}

function valueOf(episodes: AlertEpisode[], u: { alert: string; firingAt: number }): string {
  const e = episodes.find((x) => x.alert === u.alert && x.firingAt === u.firingAt);
  return e ? String(Number(e.value.toPrecision(4))) : '?';
}

function describeEpisodes(episodes: AlertEpisode[], alert: string, from: number): string {
  const mine = episodes.filter((e) => e.alert === alert);
  if (!mine.length) return 'its expression never returned a result';
  const e = mine[0]!;
  if (e.firingAt === undefined) return `it went pending ${secondsAfter(e.pendingAt, from)} after the fault began but never held for its "for:"`;
  return `it fired ${secondsAfter(e.firingAt, from)} after the fault began, outside the fault`;
}

function summarize(j: IncidentJournal, findings: number): string {
  const scrapes = `${j.scrapes.count} scrapes${j.scrapes.failed ? ` (${j.scrapes.failed} failed)` : ''}`;
  if (j.status === 'aborted') return `aborted: ${j.reasons[0] ?? 'interrupted'}`;
  const runbooks = j.rules.runbooks.filter((r) => !r.ok).length;
  const rb = runbooks ? `; ${runbooks} alert(s) without a runbook` : '';
  if (j.noFault) {
    const names = [...new Set(j.unexpected.map((u) => u.alert))];
    return `clean run without a fault: ${names.length ? `${names.join(', ')} fired (false page)` : 'no alert fired'} over ${scrapes}${rb}`;
  }
  const detected = j.expected.filter((x) => x.fired).map((x) => `${x.alert} after ${(x.detectMs! / 1000).toFixed(1)} s`);
  const missed = j.expected.filter((x) => !x.fired).map((x) => x.alert);
  const extra = [...new Set(j.unexpected.map((u) => u.alert))];
  return [
    `${j.fault?.label ?? 'fault'} for ${Math.round((j.fault?.plannedMs ?? 0) / 1000)} s: ${detected.length ? `fired ${detected.join(', ')}` : 'no expected alert fired'}`,
    missed.length ? `missed ${missed.join(', ')}` : '',
    extra.length ? `also fired ${extra.join(', ')}` : '',
    `${scrapes}${rb}`,
    findings ? `${findings} finding(s)` : '',
  ]
    .filter(Boolean)
    .join('; ');
}
