import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { MetricSelector, MetricType, PointSource } from './thresholds.ts';

/** One raw point of `--out json`: its time in epoch ms (sub-ms precision), value and tags. */
export interface MetricPoint {
  t: number;
  value: number;
  tags: Record<string, string>;
}

/** One HTTP request, from its `http_req_duration` point and the `http_req_failed` point k6 emits with it. */
export interface HttpSample {
  /** When the request completed (k6 stamps every http_* point with the request's end), epoch ms. */
  t: number;
  durationMs: number;
  /** k6's `http_req_failed` (the response callback's verdict; by default a status outside 200..399). */
  failed: boolean;
  /** 0 when no response arrived. */
  status: number;
  /** k6's error_code tag, e.g. 1050 for a request timeout. */
  errorCode?: number;
  name?: string;
  method?: string;
}

const TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/** RFC 3339 with nanoseconds (what Go's time.Time marshals to) as epoch ms, keeping the sub-millisecond part. */
export function parseK6Time(text: string): number {
  const m = TIME.exec(text);
  if (!m) return Number.NaN;
  const whole = Date.parse(`${m[1]}${m[3]}`);
  return m[2] ? whole + Number(`0.${m[2]}`) * 1000 : whole;
}

function tagsKey(tags: Record<string, string>): string {
  return JSON.stringify(tags);
}

/**
 * Every point of one or more k6 `--out json` files, by metric, and the HTTP
 * requests built from them. Tag objects are shared between points with equal
 * tags, so a long run stays small.
 */
export class MetricStore implements PointSource {
  readonly #types = new Map<string, MetricType>();
  readonly #points = new Map<string, MetricPoint[]>();
  readonly #sorted = new Set<string>();
  readonly #tagPool = new Map<string, Record<string, string>>();
  readonly http: HttpSample[] = [];
  /** Lines that were not JSON (a file cut short by SIGKILL ends with one). */
  malformedLines = 0;
  #httpSorted = true;

  typeOf(metric: string): MetricType | undefined {
    return this.#types.get(metric);
  }

  setTypeIfUnknown(metric: string, type: MetricType): void {
    if (!this.#types.has(metric)) this.#types.set(metric, type);
  }

  metrics(): string[] {
    return [...this.#points.keys()];
  }

  /** Points of a metric carrying every given tag, sorted by time. */
  points(selector: MetricSelector): MetricPoint[] {
    const all = this.#points.get(selector.metric);
    if (!all) return [];
    if (!this.#sorted.has(selector.metric)) {
      all.sort((a, b) => a.t - b.t);
      this.#sorted.add(selector.metric);
    }
    const want = Object.entries(selector.tags);
    return want.length ? all.filter((p) => want.every(([k, v]) => p.tags[k] === v)) : all;
  }

  values(selector: MetricSelector): { value: number }[] {
    return this.points(selector);
  }

  /** HTTP requests of every file read, sorted by completion time. */
  httpSamples(): HttpSample[] {
    if (!this.#httpSorted) {
      this.http.sort((a, b) => a.t - b.t);
      this.#httpSorted = true;
    }
    return this.http;
  }

  #intern(tags: Record<string, string>): Record<string, string> {
    const key = tagsKey(tags);
    let shared = this.#tagPool.get(key);
    if (!shared) this.#tagPool.set(key, (shared = Object.freeze(tags) as Record<string, string>));
    return shared;
  }

  #add(metric: string, point: MetricPoint): void {
    let list = this.#points.get(metric);
    if (!list) this.#points.set(metric, (list = []));
    list.push(point);
    this.#sorted.delete(metric);
  }

  /**
   * Streams one NDJSON file line by line into the store. The request a
   * `http_req_failed` point belongs to is the `http_req_duration` point of the
   * same file with the same time and tags.
   */
  async readFile(file: string): Promise<void> {
    if (!existsSync(file)) return;
    const waitingForFailed = new Map<string, HttpSample[]>();
    const failedFirst = new Map<string, boolean[]>();
    const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      let entry: { type?: string; metric?: string; data?: { type?: string; time?: string; value?: number; tags?: Record<string, string> | null } };
      try {
        entry = JSON.parse(line);
      } catch {
        this.malformedLines++;
        continue;
      }
      const metric = entry.metric;
      if (!metric || !entry.data) continue;
      if (entry.type === 'Metric') {
        const type = entry.data.type;
        if (type === 'counter' || type === 'gauge' || type === 'rate' || type === 'trend') this.setTypeIfUnknown(metric, type);
        continue;
      }
      if (entry.type !== 'Point' || typeof entry.data.value !== 'number' || !entry.data.time) continue;
      const t = parseK6Time(entry.data.time);
      if (Number.isNaN(t)) {
        this.malformedLines++;
        continue;
      }
      const tags = this.#intern(entry.data.tags ?? {});
      this.#add(metric, { t, value: entry.data.value, tags });
      if (metric === 'http_req_duration') {
        const sample: HttpSample = { t, durationMs: entry.data.value, failed: false, status: Number(tags.status ?? 0) || 0 };
        if (tags.error_code) sample.errorCode = Number(tags.error_code);
        if (tags.name !== undefined) sample.name = tags.name;
        if (tags.method !== undefined) sample.method = tags.method;
        this.http.push(sample);
        this.#httpSorted = false;
        const key = `${entry.data.time}\u0000${tagsKey(tags)}`;
        const early = failedFirst.get(key);
        if (early?.length) {
          sample.failed = early.shift()!;
          if (!early.length) failedFirst.delete(key);
        } else {
          const queue = waitingForFailed.get(key) ?? [];
          queue.push(sample);
          waitingForFailed.set(key, queue);
        }
      } else if (metric === 'http_req_failed') {
        const key = `${entry.data.time}\u0000${tagsKey(tags)}`;
        const queue = waitingForFailed.get(key);
        if (queue?.length) {
          queue.shift()!.failed = entry.data.value !== 0;
          if (!queue.length) waitingForFailed.delete(key);
        } else {
          const early = failedFirst.get(key) ?? [];
          early.push(entry.data.value !== 0);
          failedFirst.set(key, early);
        }
      }
    }
    // Without a response callback k6 emits no http_req_failed: count a request without an answer or with an error status as failed.
    for (const queue of waitingForFailed.values()) for (const s of queue) s.failed = s.status === 0 || s.status >= 400;
  }
}

/** What one process's `--summary-export` file says. */
export interface SummaryExport {
  /** `metric: expression` -> ok. */
  thresholds: Record<string, boolean>;
  /** The process's test run time in seconds, from a counter's count / rate; undefined when no counter counted. */
  durationSec?: number;
  /** Metric types that the summary's shape reveals (for metrics that never produced a point). */
  types: Record<string, MetricType>;
}

/**
 * Reads a `--summary-export` file. There a threshold maps to `true` when it
 * FAILED (k6 writes the threshold's `LastFailed` flag); this returns the
 * inverse, ok = passed, like {@link ThresholdResult.ok}. Missing file -> empty.
 */
export function readSummaryExport(file: string, key: (metric: string, expression: string) => string): SummaryExport {
  const out: SummaryExport = { thresholds: {}, types: {} };
  if (!existsSync(file)) return out;
  let doc: { metrics?: Record<string, Record<string, unknown>> };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return out;
  }
  for (const [metric, m] of Object.entries(doc.metrics ?? {})) {
    const thresholds = m.thresholds as Record<string, boolean> | undefined;
    for (const [expression, failed] of Object.entries(thresholds ?? {})) out.thresholds[key(metric, expression)] = failed !== true;
    const base = metric.split('{')[0]!;
    if ('passes' in m && 'fails' in m) out.types[base] = 'rate';
    else if ('count' in m && 'rate' in m) {
      out.types[base] = 'counter';
      const count = Number(m.count);
      const rate = Number(m.rate);
      if (count > 0 && rate > 0 && !metric.includes('{')) out.durationSec = Math.max(out.durationSec ?? 0, count / rate);
    } else if ('avg' in m || 'med' in m) out.types[base] = 'trend';
    else if ('value' in m) out.types[base] = 'gauge';
  }
  return out;
}
