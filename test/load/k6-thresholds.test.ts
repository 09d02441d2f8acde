import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BreakwaterError } from '../../harness/errors.ts';
import { percentile, runK6, thresholdKey, type K6Run } from '../../harness/load/k6-runner.ts';
import { sortedCopy } from '../../harness/load/percentile.ts';
import { evaluateThresholds, parseMetricSelector, parseThresholdExpression, parseThresholds } from '../../harness/load/thresholds.ts';
import { startDelayServer, type DelayServer } from './fixtures/delay-server.ts';

const FIXED_RATE = join(import.meta.dirname, 'fixtures', 'fixed-rate.ts');

function expectOneLineUsage(fn: () => unknown, mentions: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(BreakwaterError);
  expect((caught as BreakwaterError).code).toBe('BW_USAGE');
  expect((caught as Error).message).not.toContain('\n');
  expect((caught as Error).message).toContain(mentions);
}

describe('percentile', () => {
  it('interpolates between the closest ranks like k6 (i = p/100 * (n-1))', () => {
    const v = [1, 2, 3, 4, 10];
    expect(percentile(v, 0)).toBe(1);
    expect(percentile(v, 50)).toBe(3);
    expect(percentile(v, 100)).toBe(10);
    // i = 0.95 * 4 = 3.8: 4 + (10 - 4) * 0.8
    expect(percentile(v, 95)).toBeCloseTo(8.8, 12);
    expect(percentile([], 95)).toBe(0);
    expect(percentile([7], 99)).toBe(7);
    expectOneLineUsage(() => percentile(v, 101), '101');
  });
});

describe('threshold syntax', () => {
  it('parses every aggregation, operator and spacing k6 accepts', () => {
    expect(parseThresholdExpression('p(99.9) < 250')).toEqual({ aggregation: 'p', pct: 99.9, op: '<', value: 250 });
    expect(parseThresholdExpression('rate<=0.01')).toEqual({ aggregation: 'rate', op: '<=', value: 0.01 });
    expect(parseThresholdExpression('count>=3')).toEqual({ aggregation: 'count', op: '>=', value: 3 });
    expect(parseThresholdExpression('value===1')).toEqual({ aggregation: 'value', op: '==', value: 1 });
    expect(parseThresholdExpression('med!=2')).toEqual({ aggregation: 'med', op: '!=', value: 2 });
    expect(parseThresholdExpression('avg>1e3')).toEqual({ aggregation: 'avg', op: '>', value: 1000 });
    expect(parseMetricSelector("http_req_duration{name:post-message, scenario:'x'}")).toEqual({ metric: 'http_req_duration', tags: { name: 'post-message', scenario: 'x' } });
    expect(parseThresholds({ checks: [{ threshold: 'rate>0.9', abortOnFail: true, delayAbortEval: '10s' }] })[0]).toMatchObject({ expression: 'rate>0.9', abortOnFail: true });
  });

  it('refuses unknown syntax with one line naming the expression', () => {
    expectOneLineUsage(() => parseThresholdExpression('p95<250'), 'p95<250');
    expectOneLineUsage(() => parseThresholdExpression('p(95)<fast'), 'p(95)<fast');
    expectOneLineUsage(() => parseThresholdExpression('avg=3'), 'avg=3');
    expectOneLineUsage(() => parseThresholds({ 'http_req_duration{name}': ['avg<1'] }), 'http_req_duration{name}');
    expectOneLineUsage(() => parseThresholds({ checks: [42] }), 'checks');
    const store = { typeOf: () => 'rate' as const, values: () => [] };
    expectOneLineUsage(() => evaluateThresholds(parseThresholds({ http_req_failed: ['p(95)<1'] }), store, 1), 'p(95)<1');
  });

  it('evaluates empty metrics like k6: an empty Rate passes, an empty Trend is 0', () => {
    const empty = { typeOf: (m: string) => (m === 'errs' ? ('rate' as const) : ('trend' as const)), values: () => [] };
    const results = evaluateThresholds(parseThresholds({ errs: ['rate>0.99'], lat: ['p(95)>1', 'max<1'] }), empty, 1);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
  });
});

describe('runK6 against k6 itself (one runner)', () => {
  let server: DelayServer;
  let dir: string;
  let run: K6Run;

  beforeAll(async () => {
    server = await startDelayServer();
    dir = mkdtempSync(join(tmpdir(), 'bw-k6-thresholds-'));
    run = await runK6({ script: FIXED_RATE, env: { TARGET_URL: server.url, RATE: '40', DURATION: '2510ms' }, workDir: join(dir, 'run'), keepRaw: true });
  });

  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('computes percentiles from the raw points that equal k6 summary-export exactly', () => {
    const summary = JSON.parse(readFileSync(join(dir, 'run', 'k6-0.summary.json'), 'utf8')).metrics;
    expect(run.exitCodes).toEqual([99]); // the /fast threshold fails on purpose
    expect(run.http.length).toBeGreaterThan(90);
    for (const [metric, tags] of [
      ['http_req_duration', {}],
      ['http_req_duration{name:slow}', {}],
      ['http_req_duration{name:fast}', {}],
    ] as const) {
      const sorted = sortedCopy(run.samples(metric, tags).map((s) => s.value));
      const k6 = summary[metric];
      expect(k6, metric).toBeDefined();
      expect(Math.abs(percentile(sorted, 90) - k6['p(90)'])).toBeLessThan(1e-6);
      expect(Math.abs(percentile(sorted, 95) - k6['p(95)'])).toBeLessThan(1e-6);
      expect(Math.abs(percentile(sorted, 50) - k6.med)).toBeLessThan(1e-6);
      expect(sorted[sorted.length - 1]).toBe(k6.max);
    }
    // The window over the whole run is the same population as the metric.
    const all = run.window(run.startedAt, run.finishedAt + 1);
    expect(all.count).toBe(run.http.length);
    expect(Math.abs(all.p95Ms - summary.http_req_duration['p(95)'])).toBeLessThan(1e-6);
    expect(all.errorRate).toBe(0);
    expect(all.timeouts).toBe(0);
  });

  it('gives the verdict k6 gives for every threshold, one passing and one failing among them', () => {
    const k6Verdicts = run.summaryThresholds[0]!;
    expect(run.thresholds.length).toBe(13);
    for (const t of run.thresholds) expect(t.ok, `${t.metric} ${t.expression} observed ${t.observed}`).toBe(k6Verdicts[thresholdKey(t.metric, t.expression)]);
    expect(run.thresholds.find((t) => t.metric === 'http_req_duration{name:slow}' && t.expression === 'p(95)>40')?.ok).toBe(true);
    expect(run.thresholds.find((t) => t.metric === 'http_req_duration{name:fast}')?.ok).toBe(false);
    // The object form { threshold, abortOnFail } came through k6 inspect.
    expect(run.thresholds.some((t) => t.expression === 'max<10000' && t.ok)).toBe(true);
    expect(run.thresholdsOk).toBe(false);
  });

  it('pairs each request with its http_req_failed point and tags', () => {
    const slow = run.http.filter((s) => s.name === 'slow');
    expect(slow.length).toBe(run.samples('http_req_duration{name:slow}').length);
    expect(slow.every((s) => s.durationMs >= 40 && s.status === 200 && s.method === 'GET' && !s.failed)).toBe(true);
    expect(run.http.every((s, i) => i === 0 || run.http[i - 1]!.t <= s.t)).toBe(true);
    const buckets = run.series(500);
    expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(run.http.length);
  });
});
