import { BreakwaterError } from '../errors.ts';
import { percentile, sortedCopy } from './percentile.ts';

/**
 * k6 thresholds, parsed and evaluated the way k6 1.8 does it
 * (metrics/thresholds.go, metrics/thresholds_parser.go), but over raw points
 * that may come from several k6 processes.
 */

export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';
export type Aggregation = 'value' | 'count' | 'rate' | 'avg' | 'min' | 'med' | 'max' | 'p';
export type Operator = '<' | '<=' | '>' | '>=' | '==' | '!=';

/** `http_req_duration{name:post-message}`: a metric and the tags a point must carry to count. */
export interface MetricSelector {
  metric: string;
  tags: Record<string, string>;
}

export interface ThresholdExpression {
  aggregation: Aggregation;
  /** The percentile of `p(N)`, 0..100. */
  pct?: number;
  op: Operator;
  value: number;
}

/** One threshold of a script's `options.thresholds`. */
export interface ThresholdSpec {
  /** The key as written, e.g. `http_req_duration{name:post-message}`. */
  metric: string;
  selector: MetricSelector;
  /** The expression as written, e.g. `p(95)<250`. */
  expression: string;
  parsed: ThresholdExpression;
  abortOnFail: boolean;
}

export interface ThresholdResult {
  metric: string;
  expression: string;
  ok: boolean;
  /** The aggregated value the expression compared (0 for an empty Rate, which k6 lets pass). */
  observed: number;
}

/** A threshold as a script may write it: a string, or `{ threshold, abortOnFail, delayAbortEval }`. */
export type RawThreshold = string | { threshold: string; abortOnFail?: boolean; delayAbortEval?: string };

/** The key of a threshold in `K6Run.summaryThresholds`: `metric: expression`. */
export function thresholdKey(metric: string, expression: string): string {
  return `${metric}: ${expression}`;
}

// Longer operators first: k6 cuts the expression at the first operator of this list that it contains.
const OPERATORS = ['<=', '<', '>=', '>', '===', '==', '!='] as const;
const AGGREGATIONS: Aggregation[] = ['value', 'count', 'rate', 'avg', 'min', 'med', 'max'];
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function unsupported(expression: string, why: string): BreakwaterError {
  return new BreakwaterError('BW_USAGE', `k6 threshold "${expression}" is not supported: ${why}; use p(N), avg, min, max, med, count, rate or value with < <= > >= == !=`);
}

/** Parses `p(95)<250`, `rate < 0.01`, `count>0` like k6's parseThresholdExpression. */
export function parseThresholdExpression(expression: string): ThresholdExpression {
  for (const op of OPERATORS) {
    const at = expression.indexOf(op);
    // Like Go's strings.Cut: an operator with nothing after it does not count.
    if (at < 0 || at + op.length >= expression.length) continue;
    const left = expression.slice(0, at).trim();
    const right = expression.slice(at + op.length).trim();
    if (!NUMBER.test(right)) throw unsupported(expression, `"${right}" is not a number`);
    const value = Number(right);
    const normalized: Operator = op === '===' ? '==' : op;
    if ((AGGREGATIONS as string[]).includes(left)) return { aggregation: left as Aggregation, op: normalized, value };
    const p = /^p\((.*)\)$/.exec(left);
    if (p) {
      const pct = p[1]!.trim();
      if (!NUMBER.test(pct) || Number(pct) < 0 || Number(pct) > 100) throw unsupported(expression, `percentile "${pct}" is not a number in 0..100`);
      return { aggregation: 'p', pct: Number(pct), op: normalized, value };
    }
    throw unsupported(expression, `unknown aggregation "${left}"`);
  }
  throw unsupported(expression, 'no comparison operator');
}

/** Parses `metric` or `metric{key:value,...}` like k6's ParseMetricName and AddSubmetric. */
export function parseMetricSelector(name: string): MetricSelector {
  const open = name.indexOf('{');
  const close = name.lastIndexOf('}');
  if (open < 0 && close < 0) {
    if (!name.trim()) throw new BreakwaterError('BW_USAGE', 'k6 threshold on an empty metric name; name the metric, e.g. http_req_duration');
    return { metric: name, tags: {} };
  }
  if (open < 0 || close < 0 || close < open || close !== name.length - 1 || open === 0) {
    throw new BreakwaterError('BW_USAGE', `k6 threshold metric "${name}" is malformed; write metric{tag:value,...}`);
  }
  const tags: Record<string, string> = {};
  const body = name.slice(open + 1, close);
  if (!body.trim()) throw new BreakwaterError('BW_USAGE', `k6 threshold metric "${name}" has an empty tag selector; write metric{tag:value}`);
  for (const pair of body.split(',')) {
    if (pair === '') continue;
    const colon = pair.indexOf(':');
    if (colon < 0 || pair.slice(colon + 1) === '') {
      throw new BreakwaterError('BW_USAGE', `k6 threshold metric "${name}" has a tag without a value ("${pair}"); write tag:value`);
    }
    const unquote = (s: string) => s.trim().replace(/^["']+|["']+$/g, '');
    tags[unquote(pair.slice(0, colon))] = unquote(pair.slice(colon + 1));
  }
  return { metric: name.slice(0, open), tags };
}

/**
 * Parses a script's `options.thresholds` (as `k6 inspect` prints them, or as
 * written): every metric key with its string or object thresholds. Anything
 * else is a one-line BW_USAGE error naming the threshold.
 */
export function parseThresholds(raw: unknown): ThresholdSpec[] {
  if (raw === null || raw === undefined) return [];
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new BreakwaterError('BW_USAGE', 'k6 options.thresholds is not an object of metric -> [threshold, ...]');
  const specs: ThresholdSpec[] = [];
  for (const [metric, list] of Object.entries(raw as Record<string, unknown>)) {
    const selector = parseMetricSelector(metric);
    if (!Array.isArray(list)) throw new BreakwaterError('BW_USAGE', `k6 thresholds of "${metric}" are not a list; write ${metric}: ['p(95)<250']`);
    for (const item of list as unknown[]) {
      let expression: string;
      let abortOnFail = false;
      if (typeof item === 'string') expression = item;
      else if (item && typeof item === 'object' && typeof (item as { threshold?: unknown }).threshold === 'string') {
        expression = (item as { threshold: string }).threshold;
        abortOnFail = (item as { abortOnFail?: unknown }).abortOnFail === true;
      } else {
        throw new BreakwaterError('BW_USAGE', `k6 threshold ${JSON.stringify(item)} of "${metric}" is neither a string nor { threshold, abortOnFail }`);
      }
      specs.push({ metric, selector, expression, parsed: parseThresholdExpression(expression), abortOnFail });
    }
  }
  return specs;
}

const SUPPORTED: Record<MetricType, Aggregation[]> = {
  counter: ['count', 'rate'],
  gauge: ['value'],
  rate: ['rate'],
  trend: ['avg', 'min', 'max', 'med', 'p'],
};

/** k6's built-in metrics, for thresholds on a metric that got no point at all. */
const BUILTIN_TYPES: Record<string, MetricType> = {
  vus: 'gauge',
  vus_max: 'gauge',
  iterations: 'counter',
  iteration_duration: 'trend',
  dropped_iterations: 'counter',
  data_received: 'counter',
  data_sent: 'counter',
  checks: 'rate',
  http_reqs: 'counter',
  http_req_failed: 'rate',
  http_req_duration: 'trend',
  http_req_blocked: 'trend',
  http_req_connecting: 'trend',
  http_req_tls_handshaking: 'trend',
  http_req_sending: 'trend',
  http_req_waiting: 'trend',
  http_req_receiving: 'trend',
  ws_sessions: 'counter',
  ws_msgs_sent: 'counter',
  ws_msgs_received: 'counter',
  ws_ping: 'trend',
  ws_session_duration: 'trend',
  ws_connecting: 'trend',
  grpc_req_duration: 'trend',
};

/** What a threshold evaluation needs from the points: the metric's type and its points (merged over every process). */
export interface PointSource {
  typeOf(metric: string): MetricType | undefined;
  /** Points of the metric that carry every given tag, in arrival order. */
  values(selector: MetricSelector): { value: number }[];
}

function compare(lhs: number, op: Operator, rhs: number): boolean {
  switch (op) {
    case '<':
      return lhs < rhs;
    case '<=':
      return lhs <= rhs;
    case '>':
      return lhs > rhs;
    case '>=':
      return lhs >= rhs;
    case '==':
      return lhs === rhs;
    case '!=':
      return lhs !== rhs;
  }
}

/**
 * Evaluates thresholds over the points like k6's final evaluation
 * (engine.evaluateThresholds with empty sinks included): an empty Trend
 * aggregates to 0, an empty Counter to count 0 and rate 0, an empty Gauge to
 * 0, and an empty Rate has no value so its thresholds pass.
 * `durationSec` is the test's run time, the divisor of a Counter's `rate`.
 */
export function evaluateThresholds(specs: ThresholdSpec[], source: PointSource, durationSec: number): ThresholdResult[] {
  const sortedCache = new Map<string, Float64Array>();
  return specs.map((spec) => {
    const { aggregation, pct, op, value } = spec.parsed;
    const type = source.typeOf(spec.selector.metric) ?? BUILTIN_TYPES[spec.selector.metric] ?? (aggregation === 'p' || aggregation === 'med' || aggregation === 'avg' || aggregation === 'min' || aggregation === 'max' ? 'trend' : aggregation === 'count' ? 'counter' : aggregation === 'value' ? 'gauge' : 'rate');
    if (!SUPPORTED[type].includes(aggregation)) {
      throw new BreakwaterError('BW_USAGE', `k6 threshold "${spec.expression}" on ${spec.metric} uses ${aggregation === 'p' ? 'p(N)' : aggregation}, which a ${type} metric does not have; use ${SUPPORTED[type].map((a) => (a === 'p' ? 'p(N)' : a)).join(', ')}`);
    }
    const points = source.values(spec.selector);
    let observed: number | undefined;
    switch (type) {
      case 'counter': {
        let sum = 0;
        for (const p of points) sum += p.value;
        observed = aggregation === 'count' ? sum : durationSec > 0 ? sum / durationSec : 0;
        break;
      }
      case 'gauge':
        observed = points.length ? points[points.length - 1]!.value : 0;
        break;
      case 'rate': {
        if (!points.length) break;
        let trues = 0;
        for (const p of points) if (p.value !== 0) trues++;
        observed = trues / points.length;
        break;
      }
      case 'trend': {
        if (aggregation === 'p' || aggregation === 'med') {
          let sorted = sortedCache.get(spec.metric);
          if (!sorted) sortedCache.set(spec.metric, (sorted = sortedCopy(points.map((p) => p.value))));
          observed = percentile(sorted, aggregation === 'med' ? 50 : pct!);
        } else if (!points.length) observed = 0;
        else if (aggregation === 'avg') {
          let sum = 0;
          for (const p of points) sum += p.value;
          observed = sum / points.length;
        } else {
          let m = points[0]!.value;
          for (const p of points) m = aggregation === 'min' ? Math.min(m, p.value) : Math.max(m, p.value);
          observed = m;
        }
        break;
      }
    }
    return { metric: spec.metric, expression: spec.expression, ok: observed === undefined ? true : compare(observed, op, value), observed: observed ?? 0 };
  });
}
