import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { request as httpRequest } from 'undici';
import { describe, expect, test } from 'vitest';
import { describeFindings, useTarget, type EgressEndpoint, type HttpExchange } from '../../harness/index.ts';
import { CANARY_HITS_PATH } from '../../harness/stack/egress-fixtures.ts';
import { checkProperty } from '../../harness/suite/property.ts';

/**
 * SSRF, generated from the profile's `egress` endpoints. Each endpoint is asked
 * to fetch the run's loopback canary through every encoding of its address the
 * harness knows, directly and through redirects from the allowed origin; each
 * case carries a unique path, so a canary hit names the case that caused it.
 * Private, CGNAT, link-local and metadata addresses are sent as well, only
 * ever to the target, and only when they cannot become real packets: on a
 * sealed run (the target's namespace has loopback alone, so its connect fails
 * before anything is sent) or where the profile opts in for the tier (a
 * network the user owns). Otherwise they are skipped, with the reason.
 *
 * Nothing the endpoint fetched reaches an artifact: an outcome is reduced to
 * its status, blocked or not, and canary hit or not.
 */
const target = await useTarget();
const endpoints = target.profile.egress ?? [];
const egress = target.run.egress;
/** Absent (an older runner): treated as unsealed, so off-host cases are never sent. */
const network = target.run.network ?? { mode: 'host' as const, offHostTargets: 'skipped' as const, reason: 'the runner did not say whether the network is sealed' };
const SUITE = 'ssrf';

/**
 * How long after a batch the canary may still log it. A synchronous fetch is
 * logged before its response arrives, so the PR tier waits briefly per batch;
 * an asynchronous one is caught by the closing sweep, which waits LATE_WINDOW_MS
 * once and checks every path the suite ever sent.
 */
const HIT_WINDOW_MS = target.run.tier === 'pr' ? 250 : 1_000;
const LATE_WINDOW_MS = 1_500;
/** Every case sent, by its unique path id, for the closing sweep. */
const everSent = new Map<string, { endpoint: EgressEndpoint; outcome: Omit<Outcome, 'hit'>; reported: boolean }>();
const HIT_POLL_MS = 100;
/** Cases of the fixed table in flight at once. */
const CONCURRENCY = 6;
/** Runs per generated property: each run waits out the hit window once, so they are capped per tier. */
const PROPERTY_RUNS = Math.max(1, Math.min(target.run.numRuns, target.run.tier === 'pr' ? 10 : 60));
/** Cases per property run, fired together and judged by one hit window. */
const CASES_PER_RUN = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ways to write the canary's host (127.0.0.1 or another loopback name) that a URL parser or resolver may accept. */
const LOOPBACK_HOSTS: ReadonlyArray<readonly [name: string, host: string]> = [
  ['dotted 127.0.0.1', '127.0.0.1'],
  ['decimal 2130706433', '2130706433'],
  ['octal 0177.0.0.1', '0177.0.0.1'],
  ['octal 017700000001', '017700000001'],
  ['hex 0x7f000001', '0x7f000001'],
  ['hex 0x7f.0x0.0x0.0x1', '0x7f.0x0.0x0.0x1'],
  ['short 127.1', '127.1'],
  ['short 127.0.1', '127.0.1'],
  ['loopback 127.1.2.3', '127.1.2.3'],
  ['IPv6 [::1]', '[::1]'],
  ['IPv4-mapped [::ffff:127.0.0.1]', '[::ffff:127.0.0.1]'],
  ['IPv4-mapped [::ffff:7f00:1]', '[::ffff:7f00:1]'],
  ['IPv4-compatible [::127.0.0.1]', '[::127.0.0.1]'],
  ['localhost', 'localhost'],
  ['localhost. (trailing dot)', 'localhost.'],
  ['LOCALHOST', 'LOCALHOST'],
  ['unspecified 0.0.0.0', '0.0.0.0'],
  ['unspecified 0', '0'],
];

/**
 * Addresses that are not on this machine: the guard must refuse them before
 * connecting. Port 80, the metadata service's own port.
 */
const OFF_HOST: ReadonlyArray<readonly [name: string, base: string]> = [
  ['metadata 169.254.169.254', 'http://169.254.169.254/latest/meta-data'],
  ['CGNAT 100.64.0.1', 'http://100.64.0.1'],
  ['private 10.0.0.1', 'http://10.0.0.1'],
  ['private 192.168.0.1', 'http://192.168.0.1'],
  ['private 172.16.0.1', 'http://172.16.0.1'],
  ['link-local [fe80::1]', 'http://[fe80::1]'],
];

/** One request to an egress endpoint, built around a fresh unique canary path. Plain data, so a counterexample shows it whole. */
interface EgressCase {
  name: string;
  /** The URL the fetch must end at, with `{path}` where the unique path `/c/<id>` goes. */
  url: string;
  /** Redirects from the allowed origin in front of it (0: asked for directly). */
  hops: number;
}

interface Outcome {
  kase: EgressCase;
  url: string;
  id: string;
  exchange: HttpExchange;
  blocked: boolean;
  /** The canary's log line for this case's path, if the target fetched it. */
  hit?: string;
}

const PATH = '{path}';

/** The URL handed to the endpoint: the case's URL with its unique path, behind `hops` redirects from the allowed origin. */
function caseUrl(kase: EgressCase, path: string, allowedOrigin: string): string {
  let url = kase.url.replace(PATH, path);
  for (let i = 0; i < kase.hops; i++) url = `${allowedOrigin}/redirect?to=${encodeURIComponent(url)}`;
  return url;
}

/** The fixed table of direct cases: every loopback encoding, and the userinfo and fragment tricks. */
function loopbackCases(canaryOrigin: string, allowedOrigin: string): EgressCase[] {
  const port = new URL(canaryOrigin).port;
  const allowedHost = new URL(allowedOrigin).host;
  const direct: EgressCase[] = LOOPBACK_HOSTS.map(([name, host]) => ({ name, hops: 0, url: `http://${host}:${port}${PATH}` }));
  return [
    ...direct,
    { name: 'userinfo user:pass@127.0.0.1', hops: 0, url: `http://user:pass@127.0.0.1:${port}${PATH}` },
    { name: 'userinfo <allowed host>@127.0.0.1', hops: 0, url: `http://${allowedHost}@127.0.0.1:${port}${PATH}` },
    { name: 'fragment 127.0.0.1#@<allowed host>', hops: 0, url: `http://127.0.0.1:${port}${PATH}#@${allowedHost}/` },
  ];
}

/** The fixed table of redirects from the allowed origin to the canary: one hop, a 2-hop chain, and re-encoded targets. */
function redirectCases(canaryOrigin: string): EgressCase[] {
  const port = new URL(canaryOrigin).port;
  return [
    { name: 'redirect to 127.0.0.1', hops: 1, url: `${canaryOrigin}${PATH}` },
    { name: 'redirect chain of 2 hops to 127.0.0.1', hops: 2, url: `${canaryOrigin}${PATH}` },
    { name: 'redirect to decimal 2130706433', hops: 1, url: `http://2130706433:${port}${PATH}` },
    { name: 'redirect to IPv4-mapped [::ffff:7f00:1]', hops: 1, url: `http://[::ffff:7f00:1]:${port}${PATH}` },
    { name: 'redirect to localhost', hops: 1, url: `http://localhost:${port}${PATH}` },
  ];
}

/** Paths the canary has been asked for (a request to the run's own loopback listener). */
async function canaryHits(canaryOrigin: string): Promise<string[]> {
  const res = await httpRequest(canaryOrigin + CANARY_HITS_PATH, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  if (res.statusCode !== 200) throw new Error(`the canary's hit list answered ${res.statusCode}`);
  return (await res.body.json()) as string[];
}

/**
 * Waits up to the hit window for the ids; returns the canary's line for every
 * id it saw. With `untilAny`, returns as soon as one is seen (a property only
 * needs to know that its batch failed).
 */
async function awaitHits(canaryOrigin: string, ids: string[], untilAny = false): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const deadline = performance.now() + HIT_WINDOW_MS;
  for (;;) {
    for (const line of await canaryHits(canaryOrigin)) for (const id of ids) if (!found.has(id) && line.includes(id)) found.set(id, line);
    if (found.size === ids.length || (untilAny && found.size > 0) || performance.now() >= deadline) return found;
    await sleep(HIT_POLL_MS);
  }
}

/** Asks the endpoint to fetch `url`, as its declared principal. */
function ask(endpoint: EgressEndpoint, url: string): Promise<HttpExchange> {
  return target.request(endpoint.as, { method: endpoint.method, path: endpoint.path, body: endpoint.body(url) });
}

/** Sends cases together (unique path each), then gives the canary one hit window for all of them. */
async function runCases(endpoint: EgressEndpoint, fixtures: { canaryOrigin: string; allowedOrigin: string }, cases: EgressCase[], untilAny = false): Promise<Outcome[]> {
  const sent: Array<Omit<Outcome, 'hit'>> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, cases.length) }, async () => {
      while (next < cases.length) {
        const kase = cases[next++]!;
        const id = randomUUID();
        const url = caseUrl(kase, `/c/${id}`, fixtures.allowedOrigin);
        const exchange = await ask(endpoint, url);
        sent.push({ kase, url, id, exchange, blocked: endpoint.blocked(exchange.status, exchange.body) });
      }
    }),
  );
  const hits = await awaitHits(fixtures.canaryOrigin, sent.map((s) => s.id), untilAny);
  for (const s of sent) everSent.set(s.id, { endpoint, outcome: s, reported: hits.has(s.id) });
  return sent.map((s) => ({ ...s, hit: hits.get(s.id) }));
}

/**
 * The request, and what came back reduced to status, blocked or not, and
 * canary hit or not. The body is left out on purpose: it holds whatever the
 * endpoint fetched (a metadata page, credentials), which must reach no artifact.
 */
const excerptOf = (endpoint: EgressEndpoint, o: Pick<Outcome, 'url' | 'exchange' | 'hit'>) =>
  `${endpoint.method} ${endpoint.path} as ${endpoint.as} ${JSON.stringify(endpoint.body(o.url))}\n` +
  `→ ${o.exchange.status}, ${endpoint.blocked(o.exchange.status, o.exchange.body) ? 'blocked' : 'not blocked'} (response body withheld), ` +
  (o.hit !== undefined ? 'canary hit' : 'canary not hit');

/**
 * A canary hit is critical; a loopback case that was not refused but did not
 * reach the canary (which listens on 127.0.0.1 only, so [::1] or 127.1.2.3
 * cannot be seen) is still a guard that let a loopback address through.
 */
function reportLoopback(task: Parameters<typeof target.report>[0], endpoint: EgressEndpoint, o: Outcome): void {
  if (o.hit !== undefined) {
    target.report(task, {
      check: 'ssrf.canary-hit',
      suite: SUITE,
      severity: 'critical',
      title: `${endpoint.name} fetched the loopback canary through ${o.kase.name}`,
      subject: `${endpoint.name} ${o.kase.name}`,
      observed: `the canary logged this case's path; the endpoint answered ${o.exchange.status}`,
      expected: 'refused (blocked) before any connection',
      excerpt: excerptOf(endpoint, o),
    });
  } else if (!o.blocked) {
    target.report(task, {
      check: 'ssrf.not-blocked',
      suite: SUITE,
      severity: 'high',
      title: `${endpoint.name} did not refuse loopback through ${o.kase.name}`,
      subject: `${endpoint.name} ${o.kase.name}`,
      observed: `status ${o.exchange.status}, not blocked; the canary saw nothing (it listens on 127.0.0.1 only, so another loopback address may have been reached)`,
      expected: 'refused (blocked) before any connection',
      excerpt: excerptOf(endpoint, o),
    });
  }
}

/** Generated canary URLs: a loopback host, a port with or without leading zeros, path segments and a query after the unique path. */
const canaryUrlArbitrary = (port: string) =>
  fc
    .record({
      host: fc.constantFrom(...LOOPBACK_HOSTS),
      zeros: fc.integer({ min: 0, max: 2 }),
      segments: fc.array(fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/), { maxLength: 3 }),
      query: fc.option(fc.stringMatching(/^[A-Za-z0-9=&._-]{1,20}$/), { nil: undefined }),
    })
    .map(({ host: [name, host], zeros, segments, query }) => ({
      name: `${name}${zeros ? ` port with ${zeros} leading zero(s)` : ''}`,
      url: `http://${host}:${'0'.repeat(zeros)}${port}${PATH}${segments.map((s) => `/${s}`).join('')}${query ? `?${query}` : ''}`,
    }));

/** A generated property over batches of cases; a batch fails when the canary logged any of its paths. */
function canaryProperty(endpoint: EgressEndpoint, fixtures: { canaryOrigin: string; allowedOrigin: string }, subject: string, cases: fc.Arbitrary<EgressCase>) {
  return {
    check: 'ssrf.canary-hit',
    suite: SUITE,
    subject: `${endpoint.name} ${subject}`,
    severity: 'critical' as const,
    title: `${endpoint.name} fetched the loopback canary for a generated URL (${subject})`,
    arbitrary: fc.array(cases, { minLength: 1, maxLength: CASES_PER_RUN }),
    expected: 'refused (blocked) before any connection',
    numRuns: PROPERTY_RUNS,
    async holds(batch: EgressCase[]) {
      const outcomes = await runCases(endpoint, fixtures, batch, true);
      const hit = outcomes.find((o) => o.hit !== undefined);
      return hit ? `the canary logged ${hit.kase.name} (${hit.url}); the endpoint answered ${hit.exchange.status}` : undefined;
    },
  };
}

describe('ssrf', () => {
  if (endpoints.length === 0 || !egress) {
    test('egress endpoints', (ctx) => {
      ctx.skip(endpoints.length === 0 ? 'the profile declares no egress endpoints' : 'the run started no canary (run.egress is absent)');
    });
  }

  for (const endpoint of egress ? endpoints : []) {
    const { canaryOrigin, allowedOrigin } = egress!;
    const allowlisted = !!endpoint.testOriginEnv;
    const noAllowlist = `${endpoint.name} names no testOriginEnv, so the allowed origin is not on the target's allowlist`;
    /** Set by the positive control; redirect cases mean nothing without it. */
    let controlPassed = false;
    /** Set when a direct loopback case got through: off-host addresses then only repeat that finding, and are not sent. */
    let loopbackGuardBroken: string | undefined;

    describe(`${endpoint.name} (${endpoint.method} ${endpoint.path})`, () => {
      test('positive control: the allowed origin is fetched', async (ctx) => {
        if (!allowlisted) ctx.skip(noAllowlist);
        const ex = await ask(endpoint, `${allowedOrigin}/page`);
        expect(
          !endpoint.blocked(ex.status, ex.body) && ex.status < 300,
          `fetching the allowed origin ${allowedOrigin}/page answered ${ex.status}${endpoint.blocked(ex.status, ex.body) ? ' (blocked)' : ''}: the fixture or ${endpoint.testOriginEnv} wiring is broken, so the guard checks below would prove nothing`,
        ).toBe(true);
        controlPassed = true;
      });

      test('no loopback encoding reaches the canary', async ({ task }) => {
        const outcomes = await runCases(endpoint, egress!, loopbackCases(canaryOrigin, allowedOrigin));
        for (const o of outcomes) reportLoopback(task, endpoint, o);
        const breach = outcomes.find((o) => o.hit !== undefined || !o.blocked);
        if (breach) loopbackGuardBroken = breach.kase.name;
        const findings = task.meta.breakwater?.findings ?? [];
        expect(findings, describeFindings(findings)).toEqual([]);
      });

      test('no redirect from the allowed origin reaches the canary', async (ctx) => {
        if (!allowlisted) ctx.skip(noAllowlist);
        expect(controlPassed, 'the positive control failed: redirects from the allowed origin cannot be checked').toBe(true);
        const outcomes = await runCases(endpoint, egress!, redirectCases(canaryOrigin));
        for (const o of outcomes) reportLoopback(ctx.task, endpoint, o);
        const findings = ctx.task.meta.breakwater?.findings ?? [];
        expect(findings, describeFindings(findings)).toEqual([]);
      });

      test('generated loopback URLs never reach the canary', async ({ task }) => {
        const port = new URL(canaryOrigin).port;
        const cases = canaryUrlArbitrary(port).map((c): EgressCase => ({ ...c, hops: 0 }));
        const finding = await checkProperty(target, task, canaryProperty(endpoint, egress!, 'generated loopback URLs', cases));
        expect(finding, finding && describeFindings([finding])).toBeUndefined();
      });

      test('generated redirect chains never reach the canary', async (ctx) => {
        if (!allowlisted) ctx.skip(noAllowlist);
        expect(controlPassed, 'the positive control failed: redirects from the allowed origin cannot be checked').toBe(true);
        const port = new URL(canaryOrigin).port;
        const cases = fc
          .tuple(canaryUrlArbitrary(port), fc.integer({ min: 1, max: 2 }))
          .map(([c, hops]): EgressCase => ({ name: `redirect (${hops} hop${hops > 1 ? 's' : ''}) to ${c.name}`, url: c.url, hops }));
        const finding = await checkProperty(target, ctx.task, canaryProperty(endpoint, egress!, 'generated redirect chains', cases));
        expect(finding, finding && describeFindings([finding])).toBeUndefined();
      });

      test('private, CGNAT, link-local and metadata addresses are refused', async (ctx) => {
        if (network.offHostTargets === 'skipped') ctx.skip(`not sent: the network is not sealed (${network.reason ?? 'unknown'}) and the profile does not allow off-host targets for this tier (ssrf.offHostTargets)`);
        // Such a guard would also pass these: the finding is already made, and off a sealed network the target would really connect.
        if (loopbackGuardBroken) ctx.skip(`the guard let loopback through (${loopbackGuardBroken}); off-host addresses would only repeat that finding, so they are not sent`);
        for (const [name, base] of OFF_HOST) {
          const url = `${base}/c/${randomUUID()}`;
          const exchange = await ask(endpoint, url);
          if (endpoint.blocked(exchange.status, exchange.body)) continue;
          target.report(ctx.task, {
            check: 'ssrf.not-blocked',
            suite: SUITE,
            severity: 'high',
            title: `${endpoint.name} did not refuse ${name}`,
            subject: `${endpoint.name} ${name}`,
            observed: `status ${exchange.status}, not blocked`,
            expected: 'refused (blocked) before any connection',
            excerpt: excerptOf(endpoint, { url, exchange }),
          });
        }
        const findings = ctx.task.meta.breakwater?.findings ?? [];
        expect(findings, describeFindings(findings)).toEqual([]);
      });
    });
  }

  test.skipIf(endpoints.length === 0 || !egress)('closing sweep: no case reached the canary late (asynchronous fetches)', async ({ task }) => {
    await sleep(LATE_WINDOW_MS);
    const lines = await canaryHits(egress!.canaryOrigin);
    for (const [id, sent] of everSent) {
      if (sent.reported) continue;
      const line = lines.find((l) => l.includes(id));
      if (line !== undefined) reportLoopback(task, sent.endpoint, { ...sent.outcome, hit: line });
    }
    const findings = task.meta.breakwater?.findings ?? [];
    expect(findings, describeFindings(findings)).toEqual([]);
  });
});
