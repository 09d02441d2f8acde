import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import config from '../../breakwater.config.ts';
import { resolveConfig } from '../../harness/config/load-config.ts';
import type { IncidentTimeline } from '../../harness/drills/alert-postmortem.ts';
import { runIncidentDrill, type IncidentJournal } from '../../harness/drills/incident.ts';
import type { DrillContext, DrillOutcome, IncidentDrill } from '../../harness/drills/types.ts';
import { Redactor } from '../../harness/safety/redact.ts';
import { processesOfStack } from '../../harness/stack/managed-process.ts';
import { startLocalStack } from '../../harness/stack/local-provider.ts';
import type { StartedStack } from '../../harness/stack/types.ts';
import incidentDrill from '../../scenarios/drills/incident.ts';
import { expectNothingLeft } from '../helpers/leftovers.ts';
import { statusOf } from '../helpers/timing.ts';

/**
 * The incident drill for real: the reference stack under the chat mix (real
 * k6), Postgres taken down through Toxiproxy, /metrics scraped through the
 * entry link, the shipped rules evaluated over the scrapes. The expected
 * alerts must fire while Postgres is down; a drill that expects an alert the
 * fault cannot cause must report it missed.
 */
const ROOT = join(import.meta.dirname, '../..');
const runId = `incident-${process.pid}`;
const resolved = resolveConfig(config, join(ROOT, 'breakwater.config.ts'));
let stack: StartedStack;
let runOut: string;
let world: unknown;
let shipped: DrillOutcome;
let missed: DrillOutcome;
let interrupted: DrillOutcome;
let k6Left: number[] = [];

function context(name: string, options?: DrillContext['options']): DrillContext {
  return {
    config: resolved,
    stack,
    world,
    runId,
    outDir: join(runOut, 'drills', name),
    redactor: new Redactor([]),
    login: (p: string) => resolved.target.principals[p]!.login({ baseUrl: stack.info.baseUrl, world, runId }),
    ...(options ? { options } : {}),
  };
}

const journal = (o: DrillOutcome) => o.record.details as IncidentJournal;
const explain = (o: DrillOutcome) => `${o.record.summary}; findings: ${o.findings.map((f) => `${f.check}: ${f.observed}`).join(' | ') || 'none'}; alerts: ${JSON.stringify(journal(o).alerts)}`;

beforeAll(async () => {
  runOut = mkdtempSync(join(tmpdir(), 'bw-incident-'));
  stack = await startLocalStack(resolved.target.stack, { runId, outDir: runOut, rootDir: ROOT });
  world = await resolved.target.seed({ baseUrl: stack.info.baseUrl, runId, secret: () => {} });
  // Beside the shipped drill, a second one is interrupted (Ctrl-C) half a second into its own fault: a 1 ms latency
  // toxic on the Redis link, which leaves the shipped drill's Postgres outage and its alerts as they are.
  const ac = new AbortController();
  const onStep = (step: string) => {
    if (step.includes('fault on')) setTimeout(() => ac.abort(), 500);
  };
  const abortProbe: IncidentDrill = { ...(incidentDrill as IncidentDrill), name: 'abort-probe', fault: { toxic: 'latency', link: '@redis', attributes: { latency: 1 } } };
  [shipped, interrupted] = await Promise.all([
    runIncidentDrill(incidentDrill as IncidentDrill, context('incident')),
    runIncidentDrill(abortProbe, { ...context('abort-probe'), signal: ac.signal, onStep }).then((o) => {
      // Its k6 runs in its own work dir: any k6 process still there would be the interrupted drill's load.
      k6Left = processesOfStack(runId).filter((pid) => commandOf(pid) === 'k6' && cwdOf(pid) === join(runOut, 'drills/abort-probe/load'));
      return o;
    }),
  ]);
  // Postgres down cannot make requests slow (they fail fast): the latency alert must be reported missed.
  const expectsLatency: IncidentDrill = { ...(incidentDrill as IncidentDrill), name: 'incident-latency', for: '3s', expect: ['LatencyBudgetBurnFast'] };
  missed = await runIncidentDrill(expectsLatency, context('incident-latency'));
}, 150_000);

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function cwdOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return '';
  }
}

afterAll(async () => {
  const info = stack?.info;
  await stack?.stop();
  if (info) await expectNothingLeft(runId, info);
  rmSync(runOut, { recursive: true, force: true });
});

describe('Postgres down under load', () => {
  test('the expected alerts fire during the fault; time-to-detect is positive and below the fault length', () => {
    const j = journal(shipped);
    expect(shipped.record.status, explain(shipped)).toBe('passed');
    expect(shipped.findings, explain(shipped)).toEqual([]);
    expect(j.expected.map((x) => [x.alert, x.fired])).toEqual(incidentDrill.expect.map((a) => [a, true]));
    const ttd = shipped.record.figures.timeToDetectMs!;
    expect(ttd).toBeGreaterThan(0);
    expect(ttd).toBeLessThan(j.fault!.end! - j.fault!.start!);
    expect(ttd).toBe(Math.min(...j.expected.map((x) => x.detectMs!)));
    const page = j.alerts.find((a) => a.alert === 'ErrorBudgetBurnFast' && a.firingAt !== undefined)!;
    expect(page.firingAt!).toBeGreaterThanOrEqual(j.fault!.start!);
    expect(page.firingAt!).toBeLessThanOrEqual(j.fault!.end!);
    expect(j.alerts.find((a) => a.alert === 'DependencyUnavailable')!.labels.dependency).toBe('postgres');
  });

  test('figures, measurement and check are what the run result and the gate read', () => {
    const j = journal(shipped);
    expect(shipped.record.figures.scrapes).toBeGreaterThanOrEqual(20);
    expect(shipped.record.figures.alertsFired).toBeGreaterThanOrEqual(3);
    expect(j.scrapes.failed).toBe(0);
    expect(j.load!.requests).toBeGreaterThan(500);
    expect(shipped.measurements).toEqual([{ slo: 'time-to-detect', value: shipped.record.figures.timeToDetectMs, unit: 'ms', objective: j.detectObjectiveMs, pass: true, window: 'incident:incident' }]);
    // The fastest expected rule's short window + for: + two scrapes: DependencyUnavailable ([10s], 3s) vs ErrorBudgetBurnFast ([5s], 2s).
    expect(j.detectObjectiveMs).toBe(5_000 + 2_000 + 2_000);
    expect(shipped.check).toMatchObject({ name: 'drill > incident', suite: 'scenarios/drills/incident.ts', state: 'passed', findings: 0, findingIds: [] });
    expect(shipped.record.files).toEqual(['drills/incident/timeline.json', 'drills/incident/postmortem.md']);
  });

  test('postmortem.md names the fired alerts with their runbooks; timeline.json has the fault and every alert state', () => {
    const pm = readFileSync(join(runOut, 'drills/incident/postmortem.md'), 'utf8');
    expect(pm).toMatch(/^# Postmortem: /);
    expect(pm).toContain('ErrorBudgetBurnFast');
    // The link is relative to the postmortem's own directory, wherever the run's output and the repo are.
    expect(pm).toContain(`[ops/runbooks/error-budget-burn.md](${relative(join(runOut, 'drills/incident'), join(ROOT, 'ops/runbooks/error-budget-burn.md'))})`);
    expect(pm).toMatch(/\| Impact window \| \d{4}-\d\d-\d\dT.* → .*\(1[45]\.\d s\) \|/);
    for (const h of ['## Root cause', '## What went well', '## Action items', '## Timeline']) expect(pm).toContain(h);
    const tl = JSON.parse(readFileSync(join(runOut, 'drills/incident/timeline.json'), 'utf8')) as IncidentTimeline;
    expect(tl.fault?.on).toBeTypeOf('string');
    expect(tl.fault?.off).toBeTypeOf('string');
    expect(tl.scrapes.count).toBe(shipped.record.figures.scrapes);
    const events = tl.events.map((e) => `${e.alert ?? ''} ${e.event}`.trim());
    expect(events.indexOf('fault on')).toBeLessThan(events.indexOf('ErrorBudgetBurnFast firing'));
    expect(events).toContain('ErrorBudgetBurnFast pending');
    expect(events).toContain('ErrorBudgetBurnFast resolved');
    expect(events.indexOf('fault off')).toBeLessThan(events.indexOf('ErrorBudgetBurnFast resolved'));
  });

  test('the fault is rolled back: Toxiproxy has the link enabled again and the service is ready', async () => {
    expect(journal(shipped).rollbacks.every((r) => r.ok)).toBe(true);
    expect(journal(shipped).rollbacks.some((r) => r.action.startsWith('verify'))).toBe(true);
    expect(await stack.toxiproxy!.leftovers()).toEqual({ toxics: [], disabled: [] });
    expect(await statusOf(new URL('/readyz', stack.info.baseUrl).href)).toBe(200);
  });
});

describe('an interrupted drill', () => {
  test('is aborted, rolls the fault back and leaves no load running', async () => {
    const j = journal(interrupted);
    expect(interrupted.record.status, explain(interrupted)).toBe('aborted');
    expect(interrupted.record.summary).toBe('aborted: interrupted');
    expect(interrupted.check).toMatchObject({ state: 'failed', error: 'interrupted', findings: 0 });
    expect(interrupted.findings).toEqual([]);
    expect(interrupted.measurements).toEqual([]);
    expect(j.fault!.start).toBeTypeOf('number');
    expect(j.rollbacks.map((r) => [r.action, r.ok])).toEqual([['undo latency(latency=1) on @redis downstream (link app-redis)', true]]);
    expect(await stack.toxiproxy!.leftovers()).toEqual({ toxics: [], disabled: [] });
    expect(k6Left).toEqual([]);
    expect(interrupted.record.completedAt.localeCompare(interrupted.record.startedAt)).toBe(1);
    expect(Date.parse(interrupted.record.completedAt) - j.fault!.start!).toBeLessThan(5_000);
  });
});

describe('an expected alert the fault cannot cause', () => {
  test('is reported as incident.alert-missed, and the drill fails', () => {
    expect(missed.record.status, explain(missed)).toBe('failed');
    expect(missed.findings.map((f) => [f.check, f.subject, f.severity])).toEqual([['incident.alert-missed', 'incident-latency/LatencyBudgetBurnFast', 'high']]);
    expect(missed.findings[0]!.observed).toContain('@postgres down (link app-postgres) was in place for 3 s');
    expect(missed.check).toMatchObject({ state: 'failed', findings: 1, findingIds: [missed.findings[0]!.id] });
    expect(missed.measurements).toHaveLength(1);
    expect(existsSync(join(runOut, 'drills/incident-latency/postmortem.md'))).toBe(true);
  });
});
