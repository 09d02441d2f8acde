import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetProfile } from '../../harness/config/target.ts';
import { classifyError, classifyResponse, retryDelayMs, DEFAULT_RETRY } from '../../harness/suite/outcome.ts';
import { createTargetContext } from '../../harness/suite/use-target.ts';
import type { ProvidedRun } from '../../harness/suite/provided.ts';

const deny = { statuses: [403, 404], emptyBody: (b: unknown) => Array.isArray((b as { data?: unknown })?.data) && (b as { data: unknown[] }).data.length === 0 };

describe('classifyResponse: one reading of every response', () => {
  it.each([
    [200, { data: [1] }, 'allowed'],
    [201, undefined, 'allowed'],
    [302, undefined, 'allowed'],
    [200, { data: [] }, 'denied'], // emptyBody: a list with nothing in it is this service's denial
    [403, undefined, 'denied'],
    [404, undefined, 'denied'],
    [400, undefined, 'denied'], // not served, though not a declared denial
    [401, undefined, 'denied'],
    [429, undefined, 'inconclusive'],
    [502, undefined, 'inconclusive'],
    [503, undefined, 'inconclusive'],
    [504, undefined, 'inconclusive'],
    [408, undefined, 'inconclusive'],
    [500, undefined, 'inconclusive'],
  ] as const)('%i %j is %s', (status, body, verdict) => {
    expect(classifyResponse({ status, body }, deny).verdict).toBe(verdict);
  });

  it('says whether a denial is the profile\'s own (a deny status or emptyBody) or just a 4xx', () => {
    expect(classifyResponse({ status: 404, body: undefined }, deny).declared).toBe(true);
    expect(classifyResponse({ status: 200, body: { data: [] } }, deny).declared).toBe(true);
    expect(classifyResponse({ status: 400, body: undefined }, deny).declared).toBe(false);
  });

  it('without emptyBody an empty list is served', () => {
    expect(classifyResponse({ status: 200, body: { data: [] } }, { statuses: [404] }).verdict).toBe('allowed');
  });
});

describe('classifyError: no response is never a verdict', () => {
  it.each([
    [{ code: 'ECONNREFUSED' }, 'connection refused'],
    [{ code: 'ECONNRESET' }, 'connection reset'],
    [{ code: 'UND_ERR_HEADERS_TIMEOUT' }, 'no answer in time'],
    [new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }), 'connection refused'],
    [new Error('something odd'), 'no response (something odd)'],
  ])('%o: inconclusive, %s', (err, why) => {
    expect(classifyError(err)).toEqual({ verdict: 'inconclusive', why });
  });
});

describe('retryDelayMs', () => {
  it('backs off, doubling', () => {
    expect([1, 2, 3].map((a) => retryDelayMs(a, DEFAULT_RETRY))).toEqual([250, 500, 1000]);
  });
  it('honours Retry-After in seconds or as a date, within the bound', () => {
    expect(retryDelayMs(1, DEFAULT_RETRY, '1')).toBe(1000);
    expect(retryDelayMs(1, DEFAULT_RETRY, '120')).toBe(2000);
    expect(retryDelayMs(1, DEFAULT_RETRY, new Date(10_500).toUTCString(), 10_000)).toBeLessThanOrEqual(500);
    expect(retryDelayMs(1, DEFAULT_RETRY, 'soon')).toBe(250);
  });
});

/**
 * judge() against a real HTTP server that behaves like a rate-limited or
 * flapping service: the outcome after bounded retries, never a throw.
 */
describe('judge(): retries an inconclusive outcome within the bound', () => {
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      const n = (hits.get(req.url!) ?? 0) + 1;
      hits.set(req.url!, n);
      if (req.url === '/limited-twice') return n <= 2 ? res.writeHead(429, { 'retry-after': '0' }).end() : res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[1]}');
      if (req.url === '/always-503') return res.writeHead(503).end();
      if (req.url === '/empty') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}');
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const ctx = (baseUrl: string) =>
    createTargetContext({ stack: { baseUrl }, secrets: [], world: {}, runId: 't' } as unknown as ProvidedRun, { deny, principals: {}, resources: {} } as unknown as TargetProfile);
  const fast = { attempts: 3, backoffMs: 10, maxRetryAfterMs: 50 };

  it('a limiter that lets the third try through: allowed, after 3 attempts (a real acceptance is still seen)', async () => {
    const j = await ctx(base).judge(null, { method: 'GET', path: '/limited-twice' }, fast);
    expect(j).toMatchObject({ outcome: { verdict: 'allowed' }, attempts: 3 });
  });

  it('a service that stays unavailable: inconclusive after the bound, with the last response', async () => {
    const j = await ctx(base).judge(null, { method: 'GET', path: '/always-503' }, fast);
    expect(j).toMatchObject({ outcome: { verdict: 'inconclusive', why: 'unavailable (503)' }, attempts: 3, exchange: { status: 503 } });
  });

  it('nobody listening: inconclusive (connection refused), not an exception', async () => {
    const j = await ctx('http://127.0.0.1:9').judge(null, { method: 'GET', path: '/' }, fast);
    expect(j).toMatchObject({ outcome: { verdict: 'inconclusive', why: 'connection refused' }, attempts: 3 });
    expect(j.exchange).toBeUndefined();
  });

  it('an empty list under emptyBody: denied at once, no retry', async () => {
    const j = await ctx(base).judge(null, { method: 'GET', path: '/empty' }, fast);
    expect(j).toMatchObject({ outcome: { verdict: 'denied', declared: true }, attempts: 1 });
  });
});
