import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import config from '../../breakwater.config.ts';
import { resolveConfig } from '../../harness/config/load-config.ts';
import { runIncidentDrill, type IncidentJournal } from '../../harness/drills/incident.ts';
import type { DrillContext, DrillOutcome, IncidentDrill } from '../../harness/drills/types.ts';
import { Redactor } from '../../harness/safety/redact.ts';
import { startLocalStack } from '../../harness/stack/local-provider.ts';
import type { StartedStack } from '../../harness/stack/types.ts';
import incidentDrill from '../../scenarios/drills/incident.ts';
import { expectNothingLeft } from '../helpers/leftovers.ts';

/**
 * The incident drill's clean run, for real: the same load and scraping without
 * the fault must page nobody. Beside it on the same healthy stack, a second
 * clean run with a flawed rules file: a rule that fires whenever the target is
 * up is a false page, and an alert whose runbook does not exist is reported.
 */
const ROOT = join(import.meta.dirname, '../..');
const runId = `incident-clean-${process.pid}`;
const resolved = resolveConfig(config, join(ROOT, 'breakwater.config.ts'));
let stack: StartedStack;
let runOut: string;
let world: unknown;
let clean: DrillOutcome;
let flawed: DrillOutcome;

function context(name: string): DrillContext {
  return {
    config: resolved,
    stack,
    world,
    runId,
    outDir: join(runOut, 'drills', name),
    redactor: new Redactor([]),
    login: (p: string) => resolved.target.principals[p]!.login({ baseUrl: stack.info.baseUrl, world, runId }),
    options: { noFault: true },
  };
}

const journal = (o: DrillOutcome) => o.record.details as IncidentJournal;
const explain = (o: DrillOutcome) => `${o.record.summary}; findings: ${o.findings.map((f) => `${f.check}: ${f.observed}`).join(' | ') || 'none'}; alerts: ${JSON.stringify(journal(o).alerts)}`;

beforeAll(async () => {
  runOut = mkdtempSync(join(tmpdir(), 'bw-incident-clean-'));
  stack = await startLocalStack(resolved.target.stack, { runId, outDir: runOut, rootDir: ROOT });
  world = await resolved.target.seed({ baseUrl: stack.info.baseUrl, runId, secret: () => {} });

  // The shipped rules with two flaws: DependencyUnavailable links a runbook that does not exist, and a rule that is true whenever the target is up.
  const shippedRules = readFileSync(join(ROOT, incidentDrill.rules), 'utf8');
  const rules = join(runOut, 'flawed.rules.yml');
  const noisy = ['  - name: noisy', '    rules:', '      - alert: TargetUp', '        expr: up == 1', '        labels: { severity: page }', '        annotations: { runbook_url: ops/runbooks/error-budget-burn.md }', ''].join('\n');
  writeFileSync(rules, shippedRules.replace('ops/runbooks/dependency-unavailable.md', 'ops/runbooks/does-not-exist.md') + noisy);
  // Both are clean runs (no fault), so they can share the healthy stack at the same time; the flawed one brings no load of its own.
  [clean, flawed] = await Promise.all([
    runIncidentDrill(incidentDrill as IncidentDrill, context('incident')),
    runIncidentDrill({ ...(incidentDrill as IncidentDrill), name: 'incident-flawed', rules, load: undefined }, context('incident-flawed')),
  ]);
}, 150_000);

afterAll(async () => {
  const info = stack?.info;
  await stack?.stop();
  if (info) await expectNothingLeft(runId, info);
  rmSync(runOut, { recursive: true, force: true });
});

describe('the clean run (options.noFault)', () => {
  test('injects nothing, and no alert fires: passed with 0 findings', () => {
    const j = journal(clean);
    expect(clean.record.status, explain(clean)).toBe('passed');
    expect(clean.findings, explain(clean)).toEqual([]);
    expect(clean.record.figures.alertsFired).toBe(0);
    expect(j.alerts.filter((a) => a.firingAt !== undefined)).toEqual([]);
    expect(j.fault).toBeUndefined();
    expect(j.rollbacks).toEqual([]);
    expect(clean.record.figures.scrapes).toBeGreaterThanOrEqual(20);
    expect(j.scrapes.failed).toBe(0);
    expect(j.load!.requests).toBeGreaterThan(500);
    // Nothing to detect: no time-to-detect figure or measurement.
    expect(clean.record.figures.timeToDetectMs).toBeUndefined();
    expect(clean.measurements).toEqual([]);
    expect(clean.check).toMatchObject({ name: 'drill > incident', state: 'passed', findings: 0 });
    expect(clean.record.summary).toContain('no alert fired');
  });

  test('still writes a postmortem and a timeline', () => {
    expect(readFileSync(join(runOut, 'drills/incident/postmortem.md'), 'utf8')).toContain('| Alerts fired | none |');
    expect(existsSync(join(runOut, 'drills/incident/timeline.json'))).toBe(true);
  });
});

describe('a flawed rules file', () => {
  test('an alert whose runbook does not exist is incident.runbook-missing (medium)', () => {
    const f = flawed.findings.filter((x) => x.check === 'incident.runbook-missing');
    expect(f.map((x) => [x.subject, x.severity]), explain(flawed)).toEqual([['incident-flawed/DependencyUnavailable', 'medium']]);
    expect(f[0]!.observed).toContain('runbook ops/runbooks/does-not-exist.md does not exist');
    expect(readFileSync(join(runOut, 'drills/incident-flawed/postmortem.md'), 'utf8')).toContain('DependencyUnavailable: runbook ops/runbooks/does-not-exist.md does not exist');
  });

  test('a rule that fires on a healthy target is incident.false-page (high), and the drill fails', () => {
    const f = flawed.findings.filter((x) => x.check === 'incident.false-page');
    expect(f.map((x) => [x.subject, x.severity]), explain(flawed)).toEqual([['incident-flawed/TargetUp', 'high']]);
    expect(flawed.findings).toHaveLength(2);
    expect(flawed.record.status).toBe('failed');
    expect(flawed.check).toMatchObject({ state: 'failed', findings: 2 });
    expect(flawed.record.summary).toContain('TargetUp fired (false page)');
    // The shipped rules stayed silent in this run too: the only alert that fired is the flawed one.
    expect(new Set(journal(flawed).alerts.filter((a) => a.firingAt !== undefined).map((a) => a.alert))).toEqual(new Set(['TargetUp']));
  });
});
