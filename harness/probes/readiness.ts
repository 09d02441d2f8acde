import { request } from 'undici';

export interface ReadinessSample {
  /** When the answer came (epoch ms). */
  t: number;
  ok: boolean;
  ms: number;
}

/**
 * Polls a readiness URL at a fixed interval (one request in flight at a
 * time, each with a timeout) and keeps every answer, so that any window of
 * the scenario can be judged afterwards and recovery can be waited for live.
 */
export class ReadinessProbe {
  readonly samples: ReadinessSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #stopped = false;

  constructor(
    readonly url: string,
    private readonly intervalMs = 200,
    private readonly timeoutMs = 1000,
  ) {}

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      this.#inFlight = this.#once().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.intervalMs);
      });
    };
    tick();
  }

  async #once(): Promise<void> {
    const t0 = Date.now();
    let ok = false;
    try {
      const res = await request(this.url, { method: 'GET', headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, signal: AbortSignal.timeout(this.timeoutMs) });
      await res.body.dump();
      ok = res.statusCode === 200;
    } catch {
      ok = false;
    }
    this.samples.push({ t: Date.now(), ok, ms: Date.now() - t0 });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inFlight;
  }

  /** Share of answers in [from, to) that were ready; undefined without answers. */
  fraction(from: number, to: number): number | undefined {
    const w = this.samples.filter((s) => s.t >= from && s.t < to);
    return w.length ? w.filter((s) => s.ok).length / w.length : undefined;
  }

  /** The latest answer, if any. */
  last(): ReadinessSample | undefined {
    return this.samples.at(-1);
  }
}
