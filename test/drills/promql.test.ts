import { describe, expect, test } from 'vitest';
import { parseAlertRules, type AlertRule } from '../../harness/drills/alert-rules.ts';
import { evaluateAlertRules } from '../../harness/drills/alert-state.ts';
import { parseExposition, type Labels } from '../../harness/drills/prom-exposition.ts';
import { SeriesStore } from '../../harness/drills/prom-series.ts';
import { evaluate, parseDuration, parsePromQL, PromQLError, type Value } from '../../harness/drills/promql.ts';

/** One series' value in a synthetic scrape. */
type S = { name: string; labels?: Labels; v: number };

/** A store holding one scrape per second: `at(sec)` gives the series exposed at that second (undefined: the scrape failed). */
function storeOf(seconds: number[], at: (sec: number) => S[] | undefined): SeriesStore {
  const store = new SeriesStore();
  for (const sec of seconds) {
    const samples = at(sec);
    store.addScrape(sec * 1000, samples?.map((s) => ({ name: s.name, labels: s.labels ?? {}, value: s.v, family: s.name })));
  }
  return store;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function query(store: SeriesStore, expr: string, sec: number): Value {
  return evaluate(parsePromQL(expr), store, sec * 1000);
}

/** The vector's samples as `labels => value`, sorted by labels. */
function samples(v: Value): Record<string, number> {
  if (v.kind === 'scalar') return { scalar: v.v };
  const out: Record<string, number> = {};
  for (const s of [...v.samples].sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)))) {
    out[JSON.stringify(Object.fromEntries(Object.entries(s.labels).sort()))] = Number(s.v.toFixed(6));
  }
  return out;
}

function rules(yaml: string): AlertRule[] {
  return parseAlertRules(yaml, 'test.rules.yml');
}

function ruleError(expr: string): Error {
  try {
    rules(`groups:\n  - name: g\n    rules:\n      - alert: BadRule\n        expr: '${expr}'\n`);
  } catch (err) {
    return err as Error;
  }
  throw new Error(`expected ${expr} to be rejected`);
}

describe('the exposition parser', () => {
  test('reads HELP, TYPE, escaped label values, histogram families, special floats and timestamps', () => {
    const text = [
      '# HELP http_request_duration_seconds HTTP latency\\nby route',
      '# TYPE http_request_duration_seconds histogram',
      'http_request_duration_seconds_bucket{le="0.25",route="/a",status="200"} 3',
      'http_request_duration_seconds_bucket{le="+Inf",route="/a",status="200"} 4',
      'http_request_duration_seconds_sum{route="/a",status="200"} 0.75',
      'http_request_duration_seconds_count{route="/a",status="200"} 4',
      '# TYPE odd gauge',
      'odd{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb",} NaN 1700000000000',
      'odd{path="x"} +Inf',
      'odd{path="y"} -1.5e3',
      '# a plain comment',
      'plain_total 7',
      '',
    ].join('\n');
    const { samples: s, families } = parseExposition(text);
    expect(families.get('http_request_duration_seconds')).toEqual({ type: 'histogram', help: 'HTTP latency\nby route' });
    expect(s.map((x) => x.family)).toEqual([...Array(4).fill('http_request_duration_seconds'), 'odd', 'odd', 'odd', 'plain_total']);
    expect(s[1]!.labels.le).toBe('+Inf');
    expect(s[4]!.labels).toEqual({ path: 'C:\\dir', quote: 'say "hi"', nl: 'a\nb' });
    expect(s[4]!.value).toBeNaN();
    expect(s[4]!.timestampMs).toBe(1_700_000_000_000);
    expect(s[5]!.value).toBe(Infinity);
    expect(s[6]!.value).toBe(-1500);
    expect(s[7]).toMatchObject({ name: 'plain_total', labels: {}, value: 7 });
  });

  test.each([
    ['x{a="1"} one', 'line 1'],
    ['ok 1\nx{a="1} 2', 'line 2'],
    ['x{a=1} 2', 'quoted value'],
    ['x 1\nx 2', 'exposed twice'],
    ['# TYPE h histogram\nh_bucket{a="1"} 1', 'le'],
  ])('rejects %j with a one-line error naming the problem', (text, part) => {
    let err: unknown;
    try {
      parseExposition(text);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toContain(part);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('rate() and increase()', () => {
  // A counter rising 1/s, read every second; the window (10 s, 20 s] holds the points at 11..20.
  const steady = storeOf(range(0, 20), (sec) => [{ name: 'c_total', v: sec }]);

  test('rate of a steadily rising counter, extrapolated to the window edges', () => {
    expect(samples(query(steady, 'rate(c_total[10s])', 20))).toEqual({ '{}': 1 });
    expect(samples(query(steady, 'increase(c_total[10s])', 20))).toEqual({ '{}': 10 });
  });

  test('a counter reset counts the new value in full instead of a negative delta', () => {
    // 11..15, then the process restarts: 1..5. Real increase inside the window: 4 + 1 + 4 = 9, extrapolated x10/9.
    const reset = storeOf(range(0, 20), (sec) => [{ name: 'c_total', v: sec <= 15 ? sec : sec - 15 }]);
    expect(samples(query(reset, 'increase(c_total[10s])', 20))).toEqual({ '{}': 10 });
    expect(samples(query(reset, 'rate(c_total[10s])', 20))).toEqual({ '{}': 1 });
  });

  test('a series born inside the window is not extrapolated below zero, and one point gives no rate', () => {
    const born = storeOf(range(0, 20), (sec) => (sec >= 18 ? [{ name: 'c_total', v: sec - 17 }] : []));
    // Points 1, 2, 3 at 18..20: rise 2 over 2 s; extrapolated back only to where the counter was 0 (1 s earlier).
    expect(samples(query(born, 'increase(c_total[10s])', 20))).toEqual({ '{}': 3 });
    expect(samples(query(born, 'rate(c_total[10s])', 18))).toEqual({});
  });
});

describe('selectors, sum and binary operators', () => {
  // Requests by route and status, rising at fixed rates per second.
  const perSecond: Array<[Labels, number]> = [
    [{ route: '/a', status: '200' }, 9],
    [{ route: '/a', status: '503' }, 1],
    [{ route: '/b', status: '200' }, 4],
    [{ route: '/b', status: '5030' }, 2],
    [{ route: '/metrics', status: '200' }, 5],
  ];
  const store = storeOf(range(0, 20), (sec) => perSecond.map(([labels, r]) => ({ name: 'req_total', labels, v: r * sec })));

  test('label matchers: =, !=, anchored =~ and !~, and an absent label equal to ""', () => {
    expect(Object.keys(samples(query(store, 'req_total{status=~"5.."}', 20)))).toEqual(['{"__name__":"req_total","route":"/a","status":"503"}']);
    expect(Object.keys(samples(query(store, 'req_total{route!~"/metrics|/b", status!="200"}', 20)))).toEqual(['{"__name__":"req_total","route":"/a","status":"503"}']);
    expect(Object.keys(samples(query(store, 'req_total{route="/b", tenant=""}', 20)))).toHaveLength(2);
    expect(samples(query(store, '{__name__="req_total", route="/a", status="200"}', 20))).toEqual({ '{"__name__":"req_total","route":"/a","status":"200"}': 180 });
  });

  test('sum and sum by (...) group the rates', () => {
    expect(samples(query(store, 'sum(rate(req_total{route!="/metrics"}[10s]))', 20))).toEqual({ '{}': 16 });
    expect(samples(query(store, 'sum by (route) (rate(req_total[10s]))', 20))).toEqual({ '{"route":"/a"}': 10, '{"route":"/b"}': 6, '{"route":"/metrics"}': 5 });
    expect(samples(query(store, 'sum(rate(req_total[10s])) by (status)', 20))).toEqual({ '{"status":"200"}': 18, '{"status":"503"}': 1, '{"status":"5030"}': 2 });
  });

  test('vector / vector matches sum-by results one-to-one on their labels; unmatched ones drop out', () => {
    const ratio = 'sum by (route) (rate(req_total{status=~"5.."}[10s])) / sum by (route) (rate(req_total[10s]))';
    expect(samples(query(store, ratio, 20))).toEqual({ '{"route":"/a"}': 0.1 });
    expect(samples(query(store, `${ratio} > 0.05`, 20))).toEqual({ '{"route":"/a"}': 0.1 });
    expect(samples(query(store, `${ratio} > 0.2`, 20))).toEqual({});
  });

  test('scalar arithmetic, vector-scalar arithmetic and comparisons that filter', () => {
    expect(samples(query(store, '(14.4 * 0.01)', 20)).scalar).toBeCloseTo(0.144, 12);
    expect(samples(query(store, '-2 + 10 / 4', 20))).toEqual({ scalar: 0.5 });
    expect(samples(query(store, '1 - sum(rate(req_total{status="200"}[10s])) / sum(rate(req_total[10s]))', 20))).toEqual({ '{}': Number((3 / 21).toFixed(6)) });
    expect(samples(query(store, 'sum by (route) (rate(req_total[10s])) >= 6', 20))).toEqual({ '{"route":"/a"}': 10, '{"route":"/b"}': 6 });
    expect(samples(query(store, '6 < sum by (route) (rate(req_total[10s]))', 20))).toEqual({ '{"route":"/a"}': 10 });
    expect(samples(query(store, 'sum by (route) (rate(req_total[10s])) <= 5', 20))).toEqual({ '{"route":"/metrics"}': 5 });
  });

  test('two series with the same labels on one side of a match is an error, not a silent pick', () => {
    const dup = storeOf(range(0, 3), (sec) => [
      { name: 'a_total', labels: { x: '1' }, v: sec },
      { name: 'b_total', labels: { x: '1' }, v: sec },
    ]);
    expect(samples(query(dup, 'sum by (x) (rate(a_total[2s])) / sum by (x) (rate({__name__=~"a_total|b_total"}[2s]))', 3))).toEqual({ '{"x":"1"}': 0.5 });
    expect(() => query(dup, 'sum by (x) (rate(a_total[2s])) / rate({__name__=~"a_total|b_total"}[2s])', 3)).toThrow(/right side of "\/" holds two series/);
  });
});

describe('multi-window conditions with and / or', () => {
  // Errors only in the last 4 seconds: the 5 s window sees a high ratio, the 30 s window a low one, until errors last longer.
  const store = storeOf(range(0, 60), (sec) => {
    const bad = sec > 26 ? sec - 26 : 0;
    return [
      { name: 'req_total', labels: { status: '200' }, v: 10 * sec },
      { name: 'req_total', labels: { status: '500' }, v: 10 * bad },
    ];
  });
  const ratio = (w: string) => `sum(rate(req_total{status=~"5.."}[${w}])) / sum(rate(req_total[${w}]))`;
  const both = `${ratio('30s')} > 0.144 and ${ratio('5s')} > 0.144`;
  const either = `${ratio('30s')} > 0.144 or ${ratio('5s')} > 0.144`;

  test('and needs both windows; or needs either', () => {
    // At 30 s: 4 s of errors. Short window: half the traffic fails; long window: about 4/34 fail (< 14.4%).
    expect(samples(query(store, ratio('5s'), 30))['{}']).toBeGreaterThan(0.4);
    expect(samples(query(store, ratio('30s'), 30))['{}']).toBeLessThan(0.144);
    expect(samples(query(store, both, 30))).toEqual({});
    expect(Object.keys(samples(query(store, either, 30)))).toEqual(['{}']);
    // At 40 s the long window has caught up.
    expect(Object.keys(samples(query(store, both, 40)))).toEqual(['{}']);
  });

  test('and / or match on labels: only label sets present on both sides survive an and', () => {
    const byStatus = storeOf(range(0, 10), (sec) => [
      { name: 'a_total', labels: { s: '1' }, v: sec },
      { name: 'a_total', labels: { s: '2' }, v: sec },
      { name: 'b_total', labels: { s: '2' }, v: sec },
      { name: 'b_total', labels: { s: '3' }, v: sec },
    ]);
    expect(Object.keys(samples(query(byStatus, 'rate(a_total[5s]) and rate(b_total[5s])', 10)))).toEqual(['{"s":"2"}']);
    expect(Object.keys(samples(query(byStatus, 'rate(a_total[5s]) or rate(b_total[5s])', 10)))).toEqual(['{"s":"1"}', '{"s":"2"}', '{"s":"3"}']);
  });
});

describe('staleness', () => {
  test('a failed scrape leaves instant selectors empty but writes up 0; rate still reads the points around it', () => {
    const store = storeOf(range(0, 10), (sec) => (sec === 10 ? undefined : [{ name: 'c_total', v: sec }]));
    expect(samples(query(store, 'c_total', 9))).toEqual({ '{"__name__":"c_total"}': 9 });
    expect(samples(query(store, 'c_total', 10))).toEqual({});
    expect(samples(query(store, 'up == 0', 10))).toEqual({ '{"__name__":"up"}': 0 });
    expect(samples(query(store, 'up == 0', 9))).toEqual({});
    expect(Object.keys(samples(query(store, 'rate(c_total[5s])', 10)))).toEqual(['{}']);
  });
});

describe('alert states honour for:', () => {
  // The condition holds from 5 s to 12 s (gauge above 1), and again from 20 s to 21 s.
  const store = storeOf(range(0, 30), (sec) => [{ name: 'load', labels: { host: 'a' }, v: (sec >= 5 && sec <= 12) || (sec >= 20 && sec <= 21) ? 2 : 0 }]);
  const yaml = (forText: string) => `groups:\n  - name: g\n    rules:\n      - alert: HighLoad\n        expr: load > 1\n        for: ${forText}\n        labels: { severity: page }\n        annotations: { runbook_url: ops/runbooks/x.md }\n`;
  const times = range(0, 30).map((s) => s * 1000);

  test('pending first, firing once the condition has held for for:, resolved when it stops; a short blip never fires', () => {
    const [ev] = evaluateAlertRules(rules(yaml('3s')), store, times);
    expect(ev!.episodes).toEqual([
      { alert: 'HighLoad', labels: { host: 'a', severity: 'page', alertname: 'HighLoad' }, severity: 'page', runbook: 'ops/runbooks/x.md', pendingAt: 5000, firingAt: 8000, resolvedAt: 13000, value: 2 },
      { alert: 'HighLoad', labels: { host: 'a', severity: 'page', alertname: 'HighLoad' }, severity: 'page', runbook: 'ops/runbooks/x.md', pendingAt: 20000, cancelledAt: 22000, value: 2 },
    ]);
  });

  test('without for: an alert fires at the first evaluation that returns it', () => {
    const [ev] = evaluateAlertRules(rules(yaml('0s')), store, times);
    expect(ev!.episodes.map((e) => [e.pendingAt, e.firingAt, e.resolvedAt])).toEqual([
      [5000, 5000, 13000],
      [20000, 20000, 22000],
    ]);
  });

  test('an alert still firing at the last evaluation has no resolved time', () => {
    const [ev] = evaluateAlertRules(rules(yaml('1m')), store, times);
    expect(ev!.episodes.every((e) => e.firingAt === undefined)).toBe(true);
    const [late] = evaluateAlertRules(rules(yaml('2s')), store, times.slice(0, 11));
    expect(late!.episodes).toHaveLength(1);
    expect(late!.episodes[0]).toMatchObject({ pendingAt: 5000, firingAt: 7000 });
    expect(late!.episodes[0]!.resolvedAt).toBeUndefined();
  });
});

describe('constructs outside the subset', () => {
  test.each([
    ['histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m]))) > 0.25', 'histogram_quantile()'],
    ['rate(c_total[5m] offset 1m) > 0', 'offset'],
    ['rate(c_total[5m] @ 1700000000) > 0', '@ modifier'],
    ['max_over_time(rate(c_total[1m])[5m:30s]) > 1', 'max_over_time()'],
    ['rate(c_total[5m])[10m:1m]', 'subquery'],
    ['sum(rate(a_total[5m])) / on(x) sum(rate(b_total[5m]))', 'on(...)'],
    ['rate(a_total[5m]) / ignoring(x) rate(b_total[5m])', 'ignoring(...)'],
    ['rate(a_total[5m]) * group_left rate(b_total[5m])', 'group_left'],
    ['rate(a_total[5m]) > bool 1', 'bool modifier'],
    ['rate(a_total[5m]) unless rate(b_total[5m])', '"unless" operator'],
    ['rate(a_total[5m]) % 2', '"%" operator'],
    ['avg(rate(a_total[5m])) > 1', 'avg aggregation'],
    ['sum without (x) (rate(a_total[5m])) > 1', 'sum without'],
    ['absent(up)', 'absent()'],
  ])('%s → one line naming the rule and %s', (expr, construct) => {
    const err = ruleError(expr);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('rule "BadRule"');
    expect(err.message).toContain(construct);
    expect(err.message).toContain('outside the PromQL subset');
    expect(err.message).not.toContain('\n');
  });

  test.each([
    ['sum(rate(a_total[5m])', 'expected ")"'],
    ['a_total{x="1" > 1', 'after the matcher on x'],
    ['rate(a_total) > 1', 'range selector'],
    ['a_total[5m]', 'range vector'],
    ['1 > 2', 'bool modifier'],
    ['{x=""}', 'at least one matcher'],
    ['a_total{x=~"("}', 'invalid regular expression'],
    ['sum(1)', 'instant vector'],
  ])('invalid PromQL %s is a one-line syntax error (%s)', (expr, part) => {
    const err = ruleError(expr);
    expect(err.message).toContain('rule "BadRule"');
    expect(err.message).toContain(part);
    expect(err.message).not.toContain('\n');
  });

  test('rules-file constructs the drill cannot evaluate are named too', () => {
    const cases: Array<[string, string]> = [
      ['groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum(up)\n', 'recording rules'],
      ['groups:\n  - name: g\n    interval: 1m\n    rules:\n      - alert: A\n        expr: up == 0\n', '"interval"'],
      ['groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        keep_firing_for: 5m\n', '"keep_firing_for"'],
      ['groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: soon\n', 'not a duration'],
      ['groups: [', 'not valid YAML'],
      ['alerts: []', '"groups:"'],
    ];
    for (const [yaml, part] of cases) {
      let err: Error | undefined;
      try {
        rules(yaml);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message, yaml).toContain(part);
      expect(err?.message.includes('\n'), yaml).toBe(false);
    }
  });

  test('errors are PromQLErrors that say which construct is unsupported', () => {
    let err: unknown;
    try {
      parsePromQL('irate(x[5m])');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PromQLError);
    expect((err as PromQLError).unsupported).toBe('the irate() function');
    expect((err as PromQLError).code).toBe('BW_CONFIG_INVALID');
  });

  test('a hostile expression gets a one-line error, not a stack overflow', () => {
    expect(() => parsePromQL(`${'-'.repeat(5000)}1`)).toThrow(/nested more than 200/);
    expect(() => parsePromQL(`${'('.repeat(5000)}1${')'.repeat(5000)}`)).toThrow(/nested more than 200/);
  });
});

test('durations: Prometheus units and compounds', () => {
  expect(parseDuration('30s')).toBe(30_000);
  expect(parseDuration('1m30s')).toBe(90_000);
  expect(parseDuration('250ms')).toBe(250);
  expect(parseDuration('1h')).toBe(3_600_000);
  expect(parseDuration('0')).toBe(0);
  expect(parseDuration('5')).toBeUndefined();
  expect(parseDuration('5 s')).toBeUndefined();
  expect(parseDuration('')).toBeUndefined();
});
