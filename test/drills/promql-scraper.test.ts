import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { MetricsScraper } from '../../harness/drills/prom-scraper.ts';
import { evaluate, parsePromQL } from '../../harness/drills/promql.ts';

/** A real HTTP endpoint on loopback whose answers the test scripts, one per request. */
let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(answer: (n: number) => { status: number; body: string; delayMs?: number }): Promise<string> {
  let n = 0;
  server = createServer((_req, res) => {
    const a = answer(n++);
    const timer = setTimeout(() => {
      res.writeHead(a.status, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(a.body);
    }, a.delayMs ?? 0);
    res.once('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
}

test('scrapes on its cadence, records failures as up 0 instead of throwing, and stops at its bound', async () => {
  const url = await serve((n) => (n === 2 ? { status: 500, body: 'boom' } : n === 3 ? { status: 200, body: 'bad line {' } : { status: 200, body: `# TYPE c_total counter\nc_total ${n}\n` }));
  const started = Date.now();
  const bounded = new MetricsScraper({ url, everyMs: 100, maxScrapes: 6, maxDurationMs: 10_000 });
  bounded.start();
  await new Promise((r) => setTimeout(r, 1500));
  await bounded.stop();
  const scrapes = bounded.store.scrapes;
  expect(scrapes).toHaveLength(6);
  expect(scrapes.map((s) => s.ok)).toEqual([true, true, false, false, true, true]);
  expect(scrapes[2]!.error).toBe('GET /metrics answered 500');
  expect(scrapes[3]!.error).toMatch(/^metrics line 1: /);
  expect(bounded.errors).toEqual(['GET /metrics answered 500', scrapes[3]!.error]);
  // The cadence holds: 6 scrapes 100 ms apart take about half a second, not the 1.5 s waited.
  expect(scrapes.at(-1)!.t - scrapes[0]!.t).toBeGreaterThanOrEqual(450);
  expect(scrapes.at(-1)!.t - scrapes[0]!.t).toBeLessThan(1000);
  const up = parsePromQL('up');
  expect(scrapes.map((s) => (evaluate(up, bounded.store, s.t) as { samples: Array<{ v: number }> }).samples[0]!.v)).toEqual([1, 1, 0, 0, 1, 1]);
  expect(Date.now() - started).toBeLessThan(5000);
});

test('stop() right after start() ends the loop at once', async () => {
  const url = await serve((n) => ({ status: 200, body: `c_total ${n}\n` }));
  const scraper = new MetricsScraper({ url, everyMs: 100, maxScrapes: 100, maxDurationMs: 10_000 });
  scraper.start();
  const t = Date.now();
  await scraper.stop();
  expect(Date.now() - t).toBeLessThan(500);
  expect(scraper.store.scrapes.length).toBeLessThanOrEqual(1);
});

test('a scrape slower than the interval times out and is recorded as failed; stop() does not wait for a hung target', async () => {
  const url = await serve(() => ({ status: 200, body: 'c_total 1\n', delayMs: 5_000 }));
  const scraper = new MetricsScraper({ url, everyMs: 200, maxScrapes: 2, maxDurationMs: 10_000 });
  scraper.start();
  await new Promise((r) => setTimeout(r, 300));
  expect(scraper.store.scrapes[0]).toMatchObject({ ok: false, error: 'scrape timed out after 200 ms' });
  const t = Date.now();
  await scraper.stop();
  expect(Date.now() - t).toBeLessThan(1000);
});

test('an unreachable endpoint is a failed scrape naming the cause', async () => {
  const url = await serve(() => ({ status: 200, body: '' }));
  await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = undefined;
  const scraper = new MetricsScraper({ url, everyMs: 100, maxScrapes: 1, maxDurationMs: 5_000 });
  scraper.start();
  await new Promise((r) => setTimeout(r, 300));
  await scraper.stop();
  expect(scraper.store.scrapes).toHaveLength(1);
  expect(scraper.store.scrapes[0]!.error).toMatch(/ECONNREFUSED/);
});
