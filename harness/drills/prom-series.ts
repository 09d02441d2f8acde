import { seriesKey, type ExpositionSample, type Labels } from './prom-exposition.ts';

export interface Point {
  /** Epoch ms: the time of the scrape that read it. */
  t: number;
  v: number;
}

export interface Series {
  /** Every label, `__name__` included. */
  labels: Labels;
  /** Sorted by t; one point per scrape that exposed the series. */
  points: Point[];
}

export interface ScrapeRecord {
  t: number;
  ok: boolean;
  /** Why the scrape failed, one line. */
  error?: string;
  series?: number;
}

/**
 * What was scraped, on one clock: every series with its points at the scrape
 * times, and every scrape (failed ones too). Like Prometheus, each scrape also
 * writes `up` (1 when it succeeded, 0 when not), and a series missing from the
 * latest scrape, or a failed scrape, makes instant selectors see nothing
 * (staleness); range functions read whatever points fall in their window.
 */
export class SeriesStore {
  readonly #series = new Map<string, Series>();
  readonly #scrapes: ScrapeRecord[] = [];

  get scrapes(): readonly ScrapeRecord[] {
    return this.#scrapes;
  }

  get size(): number {
    return this.#series.size;
  }

  /** Records one scrape at time t (epoch ms, increasing); `samples` undefined means it failed. */
  addScrape(t: number, samples: ExpositionSample[] | undefined, error?: string): void {
    const last = this.#scrapes.at(-1);
    if (last && t <= last.t) t = last.t + 1;
    this.#scrapes.push(samples ? { t, ok: true, series: samples.length } : { t, ok: false, error: error ?? 'scrape failed' });
    for (const s of samples ?? []) this.#add({ ...s.labels, __name__: s.name }, t, s.value);
    this.#add({ __name__: 'up' }, t, samples ? 1 : 0);
  }

  #add(labels: Labels, t: number, v: number): void {
    const key = seriesKey(labels.__name__, labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { labels, points: [] };
      this.#series.set(key, s);
    }
    s.points.push({ t, v });
  }

  /** Every series whose labels satisfy `match`. */
  select(match: (labels: Labels) => boolean): Series[] {
    const out: Series[] = [];
    for (const s of this.#series.values()) if (match(s.labels)) out.push(s);
    return out;
  }

  /** The scrape an instant selector at time t reads: the latest at or before t (a failed one holds only `up`). */
  scrapeAt(t: number): ScrapeRecord | undefined {
    let lo = 0;
    let hi = this.#scrapes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#scrapes[mid]!.t <= t) lo = mid + 1;
      else hi = mid;
    }
    return this.#scrapes[lo - 1];
  }
}

/** The point of a series at exactly time t, if it has one. */
export function pointAt(s: Series, t: number): Point | undefined {
  const i = lowerBound(s.points, t);
  const p = s.points[i];
  return p && p.t === t ? p : undefined;
}

/** Points with from < t <= to (Prometheus' left-open range). */
export function pointsIn(s: Series, from: number, to: number): Point[] {
  return s.points.slice(firstAfter(s.points, from), firstAfter(s.points, to));
}

/** Index of the first point with t >= at. */
function lowerBound(points: Point[], at: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid]!.t < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first point with t > at. */
function firstAfter(points: Point[], at: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid]!.t <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
