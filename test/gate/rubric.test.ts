import { describe, expect, it } from 'vitest';
import { decideGate, type GateInputs } from '../../harness/gate/gate.ts';
import { resolveGatePolicy } from '../../harness/gate/policy.ts';
import { rubricTotal, scoreRubric, type RubricCategoryId } from '../../harness/gate/rubric.ts';
import type { EvidencePredicate } from '../../harness/evidence/statement.ts';
import type { CheckResult, RunResult } from '../../harness/run/result.ts';
import gatePolicy from '../../gate.policy.ts';
import { COMMIT, evidenceStatement, fakeRun, finding, tempKeyPair } from '../helpers/evidence.ts';

const key = tempKeyPair().key;
const NOW = new Date('2026-01-01T12:00:00.000Z');
const policy = resolveGatePolicy(
  {
    slos: ['latency', 'errors'],
    stages: {
      pr: { tiers: ['pr'], maxSeverity: 'critical', maxEvidenceAge: '24h' },
      release: { tiers: ['pr'], maxSeverity: 'low', maxEvidenceAge: '24h', slos: ['latency'], drills: { rollback: '35d' } },
    },
  },
  'test.policy.ts',
);

const predicate = (over: Partial<RunResult> & { drills?: unknown[]; scenarios?: unknown[] } = {}, commit = COMMIT) => evidenceStatement(key, fakeRun(over), commit).predicate as EvidencePredicate;
const verified = (p: EvidencePredicate) => ({ file: 'evidence.dsse.json', result: { ok: true as const, statement: { predicateType: 'https://breakwater.dev/evidence/v1', predicate: p } as never, keyid: key.keyid, commit: p.source.commit } });
const decide = (over: Partial<GateInputs> & { evidence: GateInputs['evidence'] }) => decideGate({ stage: 'pr', policy, now: NOW, ...over });

const check = (suite: string, state: CheckResult['state'], name = `${suite} > t`): CheckResult => ({ name, suite, state, durationMs: 1, findings: 0 });

describe('rubric arithmetic', () => {
  const ids: RubricCategoryId[] = ['measurement', 'reliability', 'testing', 'security', 'operability', 'delivery'];
  // scores in the order measurement 20, reliability 25, testing 15, security 15, operability 15, delivery 10
  const TABLE: [number[], number, string][] = [
    [[4, 4, 4, 4, 4, 4], 100, 'feature-re-entry'],
    [[0, 0, 0, 0, 0, 0], 0, 'below-hardening'],
    [[3, 3, 3, 3, 3, 3], 75, 'below-hardening'],
    [[4, 4, 4, 4, 3, 3], 93.75, 'feature-re-entry'],
    [[4, 4, 4, 4, 2, 4], 92.5, 'validation-window'], // ≥ 90 but a category below 3
    [[4, 4, 3, 3, 3, 3], 86.25, 'validation-window'],
    [[4, 3, 4, 4, 4, 2], 88.75, 'validation-window'],
    [[4, 4, 4, 1, 4, 4], 88.75, 'hardening-complete'], // ≥ 85 but a category below 2
    [[4, 4, 4, 4, 4, 0], 90, 'hardening-complete'],
    [[4, 4, 4, 2, 2, 2], 80, 'hardening-complete'], // exactly 80
    [[4, 4, 4, 2, 1, 2], 76.25, 'below-hardening'],
  ];
  it.each(TABLE)('scores %j → total %d, %s', (scores, total, band) => {
    const r = rubricTotal(Object.fromEntries(ids.map((id, i) => [id, scores[i]])) as Record<RubricCategoryId, number>);
    expect(r.total).toBe(total);
    expect(r.band).toBe(band);
    expect(r.categories.map((c) => c.weight)).toEqual([20, 25, 15, 15, 15, 10]);
    expect(r.categories.reduce((n, c) => n + c.points, 0)).toBe(total);
  });

  it('derives each category from the evidence as docs/rubric.md says', () => {
    const checks = [check('suites/smoke/stack.pr.test.ts', 'passed'), ...['authz', 'isolation', 'abuse'].map((f) => check(`suites/${f}/x.pr.test.ts`, 'passed')), check('suites/ssrf/ssrf.pr.test.ts', 'skipped')];
    const p = predicate({
      checks,
      measurements: [{ slo: 'latency', value: 100, unit: 'ms', objective: 250, pass: true, window: '30s' }],
      scenarios: [{ name: 'pg-latency', status: 'ok' }, { name: 'redis-down', status: 'deviated' }],
      drills: [{ name: 'rollback', completedAt: '2025-12-20T00:00:00Z', status: 'passed' }],
      findings: [finding('authz.matrix', 'GET /a', 'high')],
    });
    const r = scoreRubric({ evidence: [p], history: [], policy, stage: policy.stages.pr!, openFindings: p.findings, expiredWaivers: 1, now: NOW });
    const score = Object.fromEntries(r.categories.map((c) => [c.id, c.score]));
    expect(score).toEqual({
      measurement: 2, // 1/2 declared SLOs measured → floor(4 × 0.5)
      reliability: 3, // mean(scenarios ok 1/2, SLOs passing 1/1) = 0.75 → 3
      testing: 2, // none failed (1), a skipped check (0), smoke + others (1), < 5 runs of history (0)
      security: 2, // no open critical (1), an open high (0), 3/5 families covered → floor(2 × 3/5) = 1
      operability: 4, // rollback passed 12 d ago, within its 35 d → floor(2 × 1/1) = 2, no incident (1), a chaos scenario ok (1)
      delivery: 3, // fresh (1), signed with a configured key (1), an expired waiver (0), clean tree (1)
    });
    expect(r.total).toBe(10 + 18.75 + 7.5 + 7.5 + 15 + 7.5);
    expect(r.band).toBe('below-hardening');
    expect(r.noGo).toBe(false);
  });

  it('the reference gate.policy.ts validates and declares the profile\'s five SLOs', () => {
    const p = resolveGatePolicy(gatePolicy, 'gate.policy.ts');
    expect(p.slos).toEqual(['http-latency-p95', 'http-error-rate', 'ws-delivery-p95', 'ws-reconnect-success', 'readiness']);
    expect(Object.keys(p.stages)).toEqual(['pr', 'nightly', 'release']);
  });
});

describe('automatic no-go', () => {
  it('an open critical finding is a no-go, even where the stage allows critical findings', () => {
    const crit = finding('authz.matrix', 'GET /channels/{id} as eve', 'critical');
    const d = decide({ evidence: [verified(predicate({ findings: [crit] }))] });
    expect(d.verdict).toBe('BLOCKED');
    expect(d.rubric.noGo).toBe(true);
    expect(d.reasons).toEqual([{ code: 'BW_GATE_NO_GO', message: expect.stringMatching(new RegExp(`^no-go: open critical finding ${crit.id} \\(authz.matrix\\)`)) }]);
  });

  it('a waived critical finding is not open: no no-go', () => {
    const crit = finding('authz.matrix', 'GET /channels/{id} as eve', 'critical');
    const waivers = [{ finding: crit.id, reason: 'r', owner: 'o', approver: 'a', expires: '2026-02-01', index: 0, expiresAt: Date.parse('2026-02-01') }];
    const d = decide({ evidence: [verified(predicate({ findings: [crit] }))], waivers });
    expect(d.rubric.noGo).toBe(false);
    expect(d.verdict).toBe('PROMOTE');
  });

  it('the smoke suite failing in the last 3 runs of the history is a no-go; 2 in a row is not', () => {
    const smoke = (state: CheckResult['state']) => [check('suites/smoke/stack.pr.test.ts', state), check('suites/authz/matrix.pr.test.ts', 'passed')];
    const run = (i: number, state: CheckResult['state']) => ({ file: `h${i}`, predicate: predicate({ runId: `pr-h${i}`, finishedAt: `2025-12-31T0${i}:00:00.000Z`, checks: smoke(state) }) });
    const current = verified(predicate({ checks: smoke('passed') }));
    // Newest first: h3, h2, h1 failed; the evidence itself (newest of all) passed, so the streak is broken...
    const failing = [run(1, 'failed'), run(2, 'failed'), run(3, 'failed')];
    expect(decide({ evidence: [current], history: failing }).rubric.noGo).toBe(false);
    // ... unless the evidence being gated failed its smoke too (its failed check has no finding, which blocks on its own).
    const d = decide({ evidence: [verified(predicate({ checks: smoke('failed') }))], history: [run(2, 'failed'), run(3, 'failed'), run(1, 'passed')] });
    expect(d.rubric.noGo).toBe(true);
    expect(d.reasons.map((r) => r.code)).toEqual(['BW_GATE_CHECK_FAILED', 'BW_GATE_NO_GO']);
    expect(d.reasons[1]!.message).toMatch(/^no-go: the smoke suite failed in the last 3 runs in a row/);
    // Only the history's three newest: a no-go by history alone.
    expect(decide({ evidence: [verified(predicate({ checks: [check('suites/authz/matrix.pr.test.ts', 'passed')] }))], history: failing }).rubric.noGoReasons).toEqual([
      expect.stringMatching(/smoke suite failed in the last 3 runs/),
    ]);
    expect(decide({ evidence: [current], history: [run(1, 'passed'), run(2, 'failed'), run(3, 'failed')] }).rubric.noGo).toBe(false);
  });
});
