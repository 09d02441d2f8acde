import { describe, expect, it } from 'vitest';
import { decideGate } from '../../harness/gate/gate.ts';
import { resolveGatePolicy } from '../../harness/gate/policy.ts';
import { mergeEvidence } from '../../harness/evidence/merge.ts';
import type { EvidencePredicate } from '../../harness/evidence/statement.ts';
import type { NetworkRecord, RunResult } from '../../harness/run/result.ts';
import { COMMIT, evidenceStatement, fakeRun, tempKeyPair } from '../helpers/evidence.ts';

const key = tempKeyPair().key;
const NOW = new Date('2026-01-01T12:00:00.000Z');
const policy = (network?: 'sealed' | 'any', extra: Record<string, unknown> = {}) =>
  resolveGatePolicy(
    {
      stages: {
        pr: { tiers: ['pr'], maxSeverity: 'critical', maxEvidenceAge: '24h', ...(network ? { network } : {}), ...extra },
        nightly: { tiers: ['pr'], maxSeverity: 'critical', maxEvidenceAge: '24h', ...extra },
      },
    },
    'test.policy.ts',
  );
const predicate = (over: Partial<RunResult> = {}) => evidenceStatement(key, fakeRun(over), COMMIT).predicate as EvidencePredicate;
const verified = (p: EvidencePredicate) => ({ file: 'evidence.dsse.json', result: { ok: true as const, statement: { predicateType: 'https://breakwater.dev/evidence/v1', predicate: p } as never, keyid: key.keyid, commit: p.source.commit } });
const codes = (p: EvidencePredicate, network?: 'sealed' | 'any') => decideGate({ stage: 'pr', policy: policy(network), now: NOW, evidence: [verified(p)] }).reasons.map((r) => r.code);

const SEALED: NetworkRecord = { mode: 'sealed', offHostTargets: 'sent' };
const HOST: NetworkRecord = { mode: 'host', offHostTargets: 'skipped', reason: '--network host was given' };

describe("a stage's network rule", () => {
  it('network: sealed promotes evidence of a sealed run', () => {
    expect(codes(predicate({ network: SEALED }), 'sealed')).toEqual([]);
  });

  it('network: sealed blocks a host-network run, naming its reason', () => {
    const d = decideGate({ stage: 'pr', policy: policy('sealed'), now: NOW, evidence: [verified(predicate({ network: HOST }))] });
    expect(d.verdict).toBe('BLOCKED');
    expect(d.reasons).toEqual([{ code: 'BW_GATE_NOT_SEALED', message: expect.stringMatching(/ran on the host network \(--network host was given\); the pr stage requires sealed runs/) }]);
  });

  it('network: sealed blocks evidence that does not record its network (fails closed)', () => {
    const { network: _n, ...old } = predicate();
    expect(codes(old as EvidencePredicate, 'sealed')).toEqual(['BW_GATE_NOT_SEALED']);
  });

  it('without the rule (or with any), a host-network run is judged on its findings alone', () => {
    expect(codes(predicate({ network: HOST }))).toEqual([]);
    expect(codes(predicate({ network: HOST }), 'any')).toEqual([]);
  });

  it('a policy with another network value is a config error naming the field', () => {
    expect(() => resolveGatePolicy({ stages: { pr: { tiers: ['pr'], maxSeverity: 'low', maxEvidenceAge: '1h', network: 'closed' } } }, 'p.ts')).toThrow(/stages\.pr\.network/);
  });
});

describe('merged shards are only as sealed as the least sealed one', () => {
  const shard = (runId: string, network?: NetworkRecord) => ({ name: `${runId}.dsse.json`, statement: evidenceStatement(key, fakeRun({ runId, ...(network ? { network } : {}) }), COMMIT), keyid: key.keyid });

  it('all sealed: sealed', () => {
    expect((mergeEvidence([shard('a', SEALED), shard('b', SEALED)], { trust: 'configured', keyid: key.keyid }).predicate as EvidencePredicate).network).toEqual(SEALED);
  });

  it('one on the host network: host, with that shard named', () => {
    const merged = mergeEvidence([shard('a', SEALED), shard('b', HOST)], { trust: 'configured', keyid: key.keyid }).predicate as EvidencePredicate;
    expect(merged.network).toEqual({ ...HOST, reason: 'b: --network host was given' });
  });

  it('one that did not record it: not recorded', () => {
    const merged = mergeEvidence([shard('a', SEALED), shard('b')], { trust: 'configured', keyid: key.keyid }).predicate as EvidencePredicate;
    expect(merged.network).toBeUndefined();
  });
});

describe("a stage's inconclusive rule", () => {
  const limited = (conclusive: number): RunResult['checks'] => [
    { name: 'suites/authz/matrix.pr.test.ts > round 1', suite: 'suites/authz/matrix.pr.test.ts', state: 'passed', durationMs: 1, findings: 0, inconclusive: { cases: 3, conclusive, reasons: ['rate-limited (429) ×3'] } },
  ];
  const decide = (stage: 'pr' | 'nightly', checks: RunResult['checks'], extra: Record<string, unknown> = {}) =>
    decideGate({ stage, policy: policy(undefined, extra), now: NOW, evidence: [verified(predicate({ checks, network: SEALED }))] });

  it('the pr stage allows none by default: inconclusive cases block, naming the check and why', () => {
    const d = decide('pr', limited(20));
    expect(d.reasons).toEqual([{ code: 'BW_GATE_INCONCLUSIVE', message: expect.stringMatching(/^3 inconclusive case\(s\) in 1 check\(s\): .*matrix.*rate-limited \(429\) ×3.*the pr stage allows 0/) }]);
  });

  it('a check with no conclusive case at all is called fully inconclusive', () => {
    expect(decide('pr', limited(0)).reasons[0]!.message).toMatch(/1 of them fully inconclusive/);
  });

  it('other stages allow them unless their policy sets maxInconclusive', () => {
    expect(decide('nightly', limited(20)).reasons).toEqual([]);
    expect(decide('nightly', limited(20), { maxInconclusive: 2 }).reasons.map((r) => r.code)).toEqual(['BW_GATE_INCONCLUSIVE']);
    expect(decide('pr', limited(20), { maxInconclusive: 3 }).reasons).toEqual([]);
  });

  it('evidence with no inconclusive case passes the pr stage', () => {
    expect(decide('pr', fakeRun().checks).reasons).toEqual([]);
  });
});
