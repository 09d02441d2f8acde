import { setTimeout as sleep } from 'node:timers/promises';
import { BreakwaterError, oneLine } from '../errors.ts';
import { parseExposition } from './prom-exposition.ts';
import { SeriesStore } from './prom-series.ts';

export interface ScraperOptions {
  /** The metrics URL (on the entry link). */
  url: string;
  everyMs: number;
  /** Bounds: the loop ends after this many scrapes or this long, whichever comes first. */
  maxScrapes: number;
  maxDurationMs: number;
  /** Largest body read from one scrape. Default 16 MiB. */
  maxBytes?: number;
}

const MIN_INTERVAL_MS = 100;

/**
 * Scrapes a Prometheus endpoint on a fixed cadence into a SeriesStore, the
 * way a Prometheus server would: each scrape is stamped with its start time,
 * times out after the interval (at most 10 s), and a failure is recorded
 * (`up` 0) rather than thrown. A scrape that overruns skips the ticks it
 * missed. `stop()` ends the loop (idempotent) and waits for it.
 */
export class MetricsScraper implements AsyncDisposable {
  readonly store = new SeriesStore();
  readonly #opts: ScraperOptions;
  readonly #stop = new AbortController();
  #loop?: Promise<void>;
  #errors: string[] = [];

  constructor(opts: ScraperOptions) {
    if (!(opts.everyMs >= MIN_INTERVAL_MS)) throw new BreakwaterError('BW_CONFIG_INVALID', `scrape interval ${opts.everyMs} ms is shorter than ${MIN_INTERVAL_MS} ms; scrape less often`);
    if (!(opts.maxScrapes >= 1 && opts.maxDurationMs > 0)) throw new BreakwaterError('BW_USAGE', 'the scraper needs a positive bound on scrapes and time');
    this.#opts = opts;
  }

  /** The first distinct reasons scrapes failed (at most 5). */
  get errors(): readonly string[] {
    return this.#errors;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    const { everyMs, maxScrapes, maxDurationMs } = this.#opts;
    const start = Date.now();
    const deadline = start + maxDurationMs;
    const signal = this.#stop.signal;
    for (let n = 0, tick = 0; n < maxScrapes && !signal.aborted; n++, tick++) {
      const due = start + tick * everyMs;
      if (due >= deadline) break;
      const wait = due - Date.now();
      if (wait > 0) {
        try {
          await sleep(wait, undefined, { signal });
        } catch {
          break;
        }
      }
      const t = Date.now();
      const result = await this.#scrapeOnce(signal);
      // A scrape cut short by stop() says nothing about the target.
      if (signal.aborted) break;
      if (result.ok) this.store.addScrape(t, result.samples);
      else {
        this.store.addScrape(t, undefined, result.error);
        if (this.#errors.length < 5 && !this.#errors.includes(result.error)) this.#errors.push(result.error);
      }
      tick = Math.max(tick, Math.floor((Date.now() - start) / everyMs));
    }
  }

  async #scrapeOnce(stop: AbortSignal): Promise<{ ok: true; samples: ReturnType<typeof parseExposition>['samples'] } | { ok: false; error: string }> {
    const timeoutMs = Math.min(this.#opts.everyMs, 10_000);
    const maxBytes = this.#opts.maxBytes ?? 16 * 1024 * 1024;
    try {
      const res = await fetch(this.#opts.url, { signal: AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]), headers: { accept: 'text/plain;version=0.0.4' }, redirect: 'manual' });
      if (res.status !== 200) {
        await res.body?.cancel();
        return { ok: false, error: `GET ${new URL(this.#opts.url).pathname} answered ${res.status}` };
      }
      const length = Number(res.headers.get('content-length') ?? 0);
      if (length > maxBytes) {
        await res.body?.cancel();
        return { ok: false, error: `metrics body of ${length} bytes is over the ${maxBytes}-byte limit` };
      }
      const text = await res.text();
      if (text.length > maxBytes) return { ok: false, error: `metrics body of ${text.length} bytes is over the ${maxBytes}-byte limit` };
      return { ok: true, samples: parseExposition(text).samples };
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError') return { ok: false, error: `scrape timed out after ${timeoutMs} ms` };
      const code = (e.cause as { code?: string } | undefined)?.code;
      return { ok: false, error: code ? `${oneLine(err)} (${code})` : oneLine(err) };
    }
  }

  /** Ends the loop; resolves once no scrape is in flight. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
