import { BreakwaterError } from '../errors.ts';

/**
 * A hand-written parser of the Prometheus text exposition format (0.0.4).
 *
 * Why not a library: none in node_modules parses the format (prom-client only
 * writes it), and the maintained parsers on npm are either unmaintained or
 * pull a dependency tree for a grammar of a dozen lines. The format is small:
 * `# HELP` / `# TYPE` lines, then one sample per line,
 * `name{label="value",...} value [timestamp]`, with `\\`, `\"` and `\n`
 * escaped in label values.
 */

export type Labels = Record<string, string>;

export interface ExpositionSample {
  /** The sample's own name, e.g. `http_request_duration_seconds_bucket`. */
  name: string;
  labels: Labels;
  value: number;
  /** The exposed timestamp (ms), when the line has one. */
  timestampMs?: number;
  /** The metric family it belongs to (`http_request_duration_seconds` for its `_bucket`, `_sum` and `_count`). */
  family: string;
}

export interface MetricFamily {
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
}

export interface Exposition {
  samples: ExpositionSample[];
  families: Map<string, MetricFamily>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** Suffixes by which a sample belongs to a histogram or summary family. */
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };

/** A float as the format writes it: decimal, `+Inf`, `-Inf` or `NaN`. */
export function parseFloatValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  return FLOAT.test(text) ? Number(text) : undefined;
}

function fail(lineNo: number, problem: string): never {
  throw new BreakwaterError('BW_TARGET_UNREACHABLE', `metrics line ${lineNo}: ${problem}; the endpoint must serve the Prometheus text format`);
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

/**
 * Parses one scrape. A malformed line throws a one-line BreakwaterError that
 * names the line; so does a series exposed twice (Prometheus rejects that
 * scrape too). Explicit timestamps are kept but the drill reads every sample
 * at its scrape's time.
 */
export function parseExposition(text: string): Exposition {
  const samples: ExpositionSample[] = [];
  const families = new Map<string, MetricFamily>();
  const seen = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.replace(/\r$/, '');
    if (!line.trim()) continue;
    if (line.startsWith('#')) {
      const m = /^#\s*(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(line);
      // Any other comment (and OpenMetrics' `# EOF`) carries nothing.
      if (!m) continue;
      const family = families.get(m[2]!) ?? { type: 'untyped' as const };
      if (m[1] === 'TYPE') {
        const type = (m[3] ?? '').trim();
        if (!TYPES.has(type)) fail(lineNo, `unknown metric type "${type}" for ${m[2]}`);
        family.type = type as MetricFamily['type'];
      } else {
        family.help = unescapeHelp(m[3] ?? '');
      }
      families.set(m[2]!, family);
      continue;
    }
    const sample = parseSampleLine(line, lineNo);
    const key = seriesKey(sample.name, sample.labels);
    if (seen.has(key)) fail(lineNo, `series ${key} is exposed twice`);
    seen.add(key);
    sample.family = familyOf(sample.name, families);
    if (sample.name.endsWith('_bucket') && families.get(sample.family)?.type === 'histogram') {
      const le = sample.labels.le;
      if (le === undefined || parseFloatValue(le) === undefined) fail(lineNo, `histogram bucket ${sample.name} has no numeric "le" label`);
    }
    samples.push(sample);
  }
  return { samples, families };
}

function familyOf(name: string, families: Map<string, MetricFamily>): string {
  if (families.has(name)) return name;
  for (const [type, suffixes] of Object.entries(SUFFIXES)) {
    for (const suffix of suffixes) {
      if (!name.endsWith(suffix)) continue;
      const base = name.slice(0, -suffix.length);
      if (families.get(base)?.type === type) return base;
    }
  }
  return name;
}

function parseSampleLine(line: string, lineNo: number): ExpositionSample {
  let pos = 0;
  const skipSpace = () => {
    while (line[pos] === ' ' || line[pos] === '\t') pos++;
  };
  const name = METRIC_NAME.exec(line)?.[0];
  if (!name) fail(lineNo, `"${line.slice(0, 40)}" does not start with a metric name`);
  pos = name.length;
  const labels: Labels = {};
  skipSpace();
  if (line[pos] === '{') {
    pos++;
    for (let n = 0; ; n++) {
      if (n > 1000) fail(lineNo, 'more than 1000 labels');
      skipSpace();
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const label = LABEL_NAME.exec(line.slice(pos))?.[0];
      if (!label) fail(lineNo, `expected a label name at column ${pos + 1}`);
      pos += label.length;
      skipSpace();
      if (line[pos] !== '=') fail(lineNo, `expected "=" after label ${label}`);
      pos++;
      skipSpace();
      if (line[pos] !== '"') fail(lineNo, `expected a quoted value for label ${label}`);
      pos++;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) fail(lineNo, `unterminated value of label ${label}`);
        if (c === '"') break;
        if (c === '\\') {
          const next = line[pos + 1];
          if (next === undefined) fail(lineNo, `unterminated value of label ${label}`);
          // The format defines three escapes; like Prometheus, any other is kept as written.
          value += next === 'n' ? '\n' : next === '"' || next === '\\' ? next : `\\${next}`;
          pos += 2;
          continue;
        }
        value += c;
        pos++;
      }
      pos++;
      if (label in labels) fail(lineNo, `label ${label} appears twice`);
      labels[label] = value;
      skipSpace();
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') fail(lineNo, `expected "," or "}" after label ${label}`);
    }
  }
  const rest = line.slice(pos).trim().split(/[ \t]+/);
  if (!rest[0]) fail(lineNo, `sample ${name} has no value`);
  if (rest.length > 2) fail(lineNo, `unexpected text after the value of ${name}`);
  const value = parseFloatValue(rest[0]);
  if (value === undefined) fail(lineNo, `value "${rest[0]}" of ${name} is not a number`);
  let timestampMs: number | undefined;
  if (rest[1] !== undefined) {
    if (!/^-?\d+$/.test(rest[1])) fail(lineNo, `timestamp "${rest[1]}" of ${name} is not an integer of milliseconds`);
    timestampMs = Number(rest[1]);
  }
  return { name, labels, value, ...(timestampMs !== undefined ? { timestampMs } : {}), family: name };
}

/** A stable key of a series: its name and its labels sorted by name. */
export function seriesKey(name: string | undefined, labels: Labels): string {
  const parts = Object.keys(labels)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name ?? ''}{${parts.join(',')}}`;
}
