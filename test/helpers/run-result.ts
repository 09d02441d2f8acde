import { findingId, type CheckResult, type Finding, type MatrixCellResult, type RunResult } from '../../harness/run/result.ts';
import type { Severity } from '../../harness/config/target.ts';

/** Registered secrets the fixture plants in its texts: no report may contain them. */
export const FAKE_TOKEN = 'bw-fake-token-7f1c9a2b44e0d3';
export const FAKE_PASSWORD = 'p&ss<w0rd>"FAKE"';

export function finding(check: string, severity: Severity, subject: string, extra: Partial<Finding> = {}): Finding {
  return {
    id: findingId(check, subject),
    check,
    suite: 'authz/matrix',
    severity,
    title: `${severity} ${check} on ${subject}`,
    subject,
    observed: 'status 200',
    expected: 'denied (401/403/404)',
    reproduce: { seed: 42, command: 'npx breakwater run --tier pr --suite authz/matrix' },
    ...extra,
  };
}

/**
 * A run result with something in every part a report draws: findings of every
 * severity (one with a planted token and markup in its texts), a passed, two
 * failed and a skipped check, SLO measurements, an authz matrix with a failing
 * cell, and a chaos scenario journal with two fault windows.
 */
export function sampleRunResult(): RunResult & { scenarios: unknown[] } {
  const findings: Finding[] = [
    finding('authz.matrix', 'critical', 'channels.read GET /channels/{id} as eve', {
      title: 'cross-tenant: eve (member, t2) can read channels of alice (t1)',
      excerpt: `GET /channels/c1 as eve\nauthorization: Bearer ${FAKE_TOKEN}\n→ 200 {"name":"<script>alert(1)</script>"}`,
      observed: `status 200 with token ${FAKE_TOKEN}`,
    }),
    finding('authz.matrix', 'high', 'messages.update PATCH /messages/{id} as bob'),
    finding('authz.server-error', 'medium', 'uploads.read GET /uploads/{id} as bot | odd', { observed: 'status 500', expected: '2xx' }),
    finding('authz.unexpected-deny', 'low', 'channels.list GET /channels as guest', { observed: 'status 403', expected: '2xx', excerpt: `password=${FAKE_PASSWORD}` }),
  ];
  const ids = (check: string) => findings.filter((f) => f.check.startsWith(check)).map((f) => f.id);
  const checks: CheckResult[] = [
    { name: 'suites/smoke/smoke.pr.test.ts > smoke > the stack answers', suite: 'suites/smoke/smoke.pr.test.ts', state: 'passed', durationMs: 812, findings: 0, findingIds: [] },
    {
      name: 'suites/authz/matrix.pr.test.ts > authz matrix > round 1: every denied cell stays denied',
      suite: 'suites/authz/matrix.pr.test.ts',
      state: 'failed',
      durationMs: 2345,
      error: 'AssertionError: expected [ …(4) ] to deeply equal []',
      findings: 4,
      findingIds: ids('authz.'),
    },
    { name: 'suites/isolation/cache.pr.test.ts > cache > warms', suite: 'suites/isolation/cache.pr.test.ts', state: 'failed', durationMs: 120, error: 'Error: connect ECONNREFUSED 127.0.0.1:5432', findings: 0, findingIds: [] },
    { name: 'suites/isolation/realtime.pr.test.ts > realtime > revocation', suite: 'suites/isolation/realtime.pr.test.ts', state: 'skipped', durationMs: 0, findings: 0, findingIds: [] },
  ];
  const matrix: MatrixCellResult[] = [];
  for (const principal of ['alice', 'bob', 'eve']) {
    for (const [resource, op] of [['channels', 'read'], ['channels', 'update'], ['messages', 'update']] as const) {
      const expected = principal === 'alice' || (principal === 'bob' && op === 'read') ? 'allow' : 'deny';
      const leak = principal === 'eve' && resource === 'channels' && op === 'read';
      matrix.push({ principal, resource, op, expected, status: expected === 'allow' || leak ? 200 : 403, pass: !leak });
    }
  }
  const t0 = Date.parse('2026-11-22T10:00:00.000Z');
  const series = Array.from({ length: 31 }, (_, i) => ({ t: t0 + i * 1000, p95Ms: i >= 10 && i < 20 ? 320 + i : 40, errorRate: i >= 12 && i < 18 ? 0.08 : 0 }));
  return {
    schemaVersion: 1,
    runId: 'pr-20261122T100000-abc123',
    tier: 'pr',
    verdict: 'blocked',
    reasons: [`critical finding ${findings[0]!.id}: ${findings[0]!.title}`, `check failed without a finding: cache: secret ${FAKE_TOKEN} & <b>markup</b>`],
    target: { name: 'reference-chat', provider: 'local', baseUrl: 'http://127.0.0.1:41234', flaws: ['channel-read-cross-tenant'] },
    startedAt: '2026-11-22T10:00:00.000Z',
    finishedAt: '2026-11-22T10:00:12.500Z',
    durationMs: 12500,
    tools: { node: '20.19.0', 'toxiproxy-server': '2.12.0' },
    seeds: { fastCheck: 1234 },
    checks,
    findings,
    measurements: [
      { slo: 'api-p95-latency', value: 180, unit: 'ms', objective: 250, pass: true, window: '30s' },
      { slo: 'api-error-rate', value: 0.04, unit: 'ratio', objective: 0.01, pass: false, window: '30s' },
    ],
    matrix,
    incidents: [],
    teardownErrors: [],
    scenarios: [
      {
        name: 'postgres latency <spike>',
        status: 'deviated',
        recoveryMs: 4200,
        faults: [
          { link: 'app->postgres', toxic: 'latency', start: t0 + 10_000, end: t0 + 20_000 },
          { link: 'app->redis', toxic: 'reset_peer', start: new Date(t0 + 12_000).toISOString(), end: new Date(t0 + 18_000).toISOString() },
        ],
        series,
      },
    ],
  };
}
