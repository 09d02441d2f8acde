import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import config from '../../breakwater.config.ts';
import { resolveConfig } from '../../harness/config/load-config.ts';
import { runIncidentDrill } from '../../harness/drills/incident.ts';
import type { DrillContext, IncidentDrill } from '../../harness/drills/types.ts';
import { Redactor } from '../../harness/safety/redact.ts';
import type { StartedStack } from '../../harness/stack/types.ts';
import incidentDrill from '../../scenarios/drills/incident.ts';
import { checkRunbooks, checkWithPromtool, loadAlertRules, parseAlertRules } from '../../harness/drills/alert-rules.ts';
import { evaluateAlertRules } from '../../harness/drills/alert-state.ts';
import { parseExposition } from '../../harness/drills/prom-exposition.ts';
import { SeriesStore } from '../../harness/drills/prom-series.ts';

/**
 * The shipped alert rules (ops/alerts/reference-chat.rules.yml) judged
 * without a stack: they parse within the evaluator's subset, every alert has
 * a severity and a runbook that exists, and over synthetic scrapes in the
 * reference target's own exposition format they fire on an outage and stay
 * silent on healthy traffic.
 */
const ROOT = join(import.meta.dirname, '../..');
const RULES = 'ops/alerts/reference-chat.rules.yml';
const rules = loadAlertRules(join(ROOT, RULES), RULES);
const tmp = mkdtempSync(join(tmpdir(), 'bw-incident-rules-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Cumulative counts per (route, status) and per dependency, rendered the way prom-client renders them. */
class FakeTarget {
  readonly counts = new Map<string, { route: string; status: string; fast: number; total: number }>();
  dependencyErrors = 0;

  serve(route: string, status: string, n: number, slow = false): void {
    const key = `${route} ${status}`;
    const c = this.counts.get(key) ?? { route, status, fast: 0, total: 0 };
    c.total += n;
    if (!slow) c.fast += n;
    this.counts.set(key, c);
    if (status === '503') this.dependencyErrors += n;
  }

  exposition(): string {
    const lines = ['# HELP http_request_duration_seconds HTTP request latency by route and status', '# TYPE http_request_duration_seconds histogram'];
    for (const c of this.counts.values()) {
      const l = `method="GET",route="${c.route}",status="${c.status}"`;
      lines.push(`http_request_duration_seconds_bucket{le="0.25",${l}} ${c.fast}`, `http_request_duration_seconds_bucket{le="+Inf",${l}} ${c.total}`, `http_request_duration_seconds_sum{${l}} ${c.total * 0.01}`, `http_request_duration_seconds_count{${l}} ${c.total}`);
    }
    lines.push('# HELP dependency_errors_total Requests that failed because Postgres or Redis was unavailable', '# TYPE dependency_errors_total counter');
    if (this.dependencyErrors) lines.push(`dependency_errors_total{dependency="postgres"} ${this.dependencyErrors}`);
    return `${lines.join('\n')}\n`;
  }
}

/** 40 requests/s for `seconds`, scraped every second; `phase(sec)` says how that second's requests fare. */
function drill(seconds: number, phase: (sec: number) => 'ok' | 'down' | 'slow'): { store: SeriesStore; times: number[] } {
  const target = new FakeTarget();
  const store = new SeriesStore();
  for (let sec = 0; sec <= seconds; sec++) {
    const p = phase(sec);
    target.serve('/tenants/:tid/channels', p === 'down' ? '503' : '200', 38, p === 'slow');
    target.serve('/metrics', '200', 1);
    store.addScrape(sec * 1000, parseExposition(target.exposition()).samples);
  }
  return { store, times: store.scrapes.map((s) => s.t) };
}

const firing = (ev: ReturnType<typeof evaluateAlertRules>, alert: string) => ev.find((e) => e.alert === alert)!.episodes.filter((e) => e.firingAt !== undefined);

describe('the shipped rules file', () => {
  test('parses within the subset: multi-window burn rates with compressed windows, a severity and a runbook each', () => {
    expect(rules.map((r) => [r.alert, r.severity, r.windowsMs])).toEqual([
      ['ErrorBudgetBurnFast', 'page', [30_000, 30_000, 5_000, 5_000]],
      ['ErrorBudgetBurnSlow', 'ticket', [180_000, 180_000, 15_000, 15_000]],
      ['LatencyBudgetBurnFast', 'page', [30_000, 30_000, 5_000, 5_000]],
      ['DependencyUnavailable', 'ticket', [10_000]],
    ]);
    expect(rules.every((r) => r.runbook?.startsWith('ops/runbooks/'))).toBe(true);
  });

  test('every alert links a runbook that exists and is not empty', () => {
    expect(checkRunbooks(rules, ROOT).filter((r) => !r.ok)).toEqual([]);
  });

  test('healthy traffic fires nothing', () => {
    const { store, times } = drill(40, () => 'ok');
    const ev = evaluateAlertRules(rules, store, times);
    expect(ev.flatMap((e) => e.episodes)).toEqual([]);
    expect(ev.every((e) => e.errors === 0)).toBe(true);
  });

  test('a dependency outage pages on the error burn within the short window plus for:, names the dependency, and resolves after', () => {
    const { store, times } = drill(45, (sec) => (sec > 10 && sec <= 25 ? 'down' : 'ok'));
    const ev = evaluateAlertRules(rules, store, times);
    const [fast] = firing(ev, 'ErrorBudgetBurnFast');
    expect(fast!.firingAt! - 10_000).toBeGreaterThan(0);
    expect(fast!.firingAt! - 10_000).toBeLessThanOrEqual(5_000 + 2_000 + 2_000);
    expect(fast!.resolvedAt).toBeGreaterThan(25_000);
    expect(fast!.resolvedAt! - 25_000).toBeLessThanOrEqual(6_000);
    const [dep] = firing(ev, 'DependencyUnavailable');
    expect(dep!.labels.dependency).toBe('postgres');
    expect(firing(ev, 'ErrorBudgetBurnSlow')).toHaveLength(1);
    expect(firing(ev, 'LatencyBudgetBurnFast')).toEqual([]);
  });

  test('a two-second blip of errors does not page: the long window and for: absorb it', () => {
    const { store, times } = drill(40, (sec) => (sec === 20 || sec === 21 ? 'down' : 'ok'));
    expect(firing(evaluateAlertRules(rules, store, times), 'ErrorBudgetBurnFast')).toEqual([]);
  });

  test('slow requests page on the latency burn and not on the error burn', () => {
    const { store, times } = drill(40, (sec) => (sec > 5 ? 'slow' : 'ok'));
    const ev = evaluateAlertRules(rules, store, times);
    expect(firing(ev, 'LatencyBudgetBurnFast')).toHaveLength(1);
    expect(firing(ev, 'ErrorBudgetBurnFast')).toEqual([]);
  });
});

describe('runbook checks', () => {
  const root = join(tmp, 'repo');
  mkdirSync(join(root, 'ops/runbooks'), { recursive: true });
  writeFileSync(join(root, 'ops/runbooks/good.md'), '# Good\nDo this.\n');
  writeFileSync(join(root, 'ops/runbooks/empty.md'), '  \n');
  writeFileSync(join(tmp, 'outside.md'), '# Outside\n');
  const rule = (alert: string, runbook?: string) => `      - alert: ${alert}\n        expr: up == 0\n${runbook ? `        annotations:\n          runbook_url: ${runbook}\n` : ''}`;
  const file = ['groups:', '  - name: g', '    rules:', rule('Good', 'ops/runbooks/good.md#triage'), rule('Missing', 'ops/runbooks/missing.md'), rule('Empty', 'ops/runbooks/empty.md'), rule('Web', 'https://wiki.example.test/runbook'), rule('Outside', '../outside.md'), rule('None')].join('\n');

  test('a runbook counts only when it is a non-empty file inside the repository', () => {
    const checks = checkRunbooks(parseAlertRules(file, 'x.yml'), root);
    expect(checks.map((c) => [c.alert, c.ok])).toEqual([
      ['Good', true],
      ['Missing', false],
      ['Empty', false],
      ['Web', false],
      ['Outside', false],
      ['None', false],
    ]);
    expect(checks.find((c) => c.alert === 'Missing')!.problem).toBe('runbook ops/runbooks/missing.md does not exist');
    expect(checks.find((c) => c.alert === 'Empty')!.problem).toContain('is empty');
    expect(checks.find((c) => c.alert === 'Web')!.problem).toContain('cannot check offline');
    expect(checks.find((c) => c.alert === 'Outside')!.problem).toContain('outside the repository');
    expect(checks.find((c) => c.alert === 'None')!.problem).toContain('no runbook_url');
  });
});

describe('promtool', () => {
  // promtool is not installed here: a stand-in with promtool's CLI contract (exit status, FAILED lines) checks how its verdict is read.
  const bin = join(tmp, 'bin');
  mkdirSync(bin, { recursive: true });
  const fake = (body: string) => {
    writeFileSync(join(bin, 'promtool'), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, 'promtool'), 0o755);
  };
  const withPath = async <T>(fn: () => Promise<T>): Promise<T> => {
    const old = process.env.PATH;
    process.env.PATH = `${bin}${delimiter}${old ?? ''}`;
    try {
      return await fn();
    } finally {
      process.env.PATH = old;
    }
  };

  test('a file promtool rejects is a one-line error with its reason; one it accepts passes; the arguments are "check rules <file>"', async () => {
    fake('[ "$1 $2" = "check rules" ] || exit 3\necho "Checking $3"\necho "  FAILED:"\necho "$3: group \\"g\\", rule 1: could not parse expression" >&2\nexit 1');
    const err = await withPath(() => checkWithPromtool(join(ROOT, RULES), RULES)).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^promtool check rules ops\/alerts\/reference-chat\.rules\.yml rejected the file: FAILED:; .*could not parse expression$/);
    fake('[ "$1 $2" = "check rules" ] || exit 3\necho "Checking $3"\necho "  SUCCESS: 4 rules found"');
    expect(await withPath(() => checkWithPromtool(join(ROOT, RULES), RULES))).toBe('passed');
  });
});

describe('drill input', () => {
  // Input is judged before anything starts: these contexts point at a port nothing listens on, and nothing may be written.
  const resolved = resolveConfig(config, join(ROOT, 'breakwater.config.ts'));
  const outDir = join(tmp, 'never-written');
  const ctx: DrillContext = {
    config: resolved,
    stack: { info: { baseUrl: 'http://127.0.0.1:9' } } as StartedStack,
    world: {},
    runId: 'input',
    outDir,
    redactor: new Redactor([]),
    login: () => Promise.reject(new Error('no login in input tests')),
  };
  const unsupportedRules = join(tmp, 'unsupported.rules.yml');
  writeFileSync(unsupportedRules, 'groups:\n  - name: g\n    rules:\n      - alert: SlowP95\n        expr: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[30s]))) > 0.25\n');

  test.each([
    [{ rules: unsupportedRules }, /rule "SlowP95" \(group "g"\): the histogram_quantile\(\) function is outside the PromQL subset/],
    [{ rules: 'ops/alerts/missing.rules.yml' }, /alert rules file ops\/alerts\/missing\.rules\.yml does not exist/],
    [{ expect: ['NoSuchAlert'] }, /expects alert "NoSuchAlert", which ops\/alerts\/reference-chat\.rules\.yml does not define/],
    [{ metricsPath: '//elsewhere.example/metrics' }, /metricsPath "\/\/elsewhere\.example\/metrics" leaves the entry link/],
    [{ fault: { down: '@nosuch' } }, /link role "@nosuch" matches no link/],
    [{ for: '0s' as const }, /"for" must be a positive duration/],
  ])('%j is a one-line error before anything starts', async (change, message) => {
    const err = await runIncidentDrill({ ...(incidentDrill as IncidentDrill), ...change } as IncidentDrill, ctx).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
    expect(existsSync(outDir)).toBe(false);
  });
});
