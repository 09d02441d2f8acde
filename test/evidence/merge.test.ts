import { describe, expect, it } from 'vitest';
import { mergeEvidence, type EvidencePart } from '../../harness/evidence/merge.ts';
import { evidenceStatement, fakeRun, finding, tempKeyPair } from '../helpers/evidence.ts';

const { key } = tempKeyPair();
const signer = { trust: key.trust, keyid: key.keyid };
const part = (name: string, over: Parameters<typeof fakeRun>[0], commit?: string): EvidencePart => ({ name, statement: evidenceStatement(key, fakeRun({ runId: name, ...over }), commit), keyid: key.keyid });

describe('mergeEvidence', () => {
  it('unites findings by id, concatenates checks, spans the durations and recomputes the verdict', () => {
    const shared = finding('authz.matrix', 'GET /a', 'medium');
    const a = part('a', { startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:05.000Z', findings: [shared], reasons: ['check failed without a finding: x'] });
    const b = part('b', { startedAt: '2026-01-01T00:00:02.000Z', finishedAt: '2026-01-01T00:00:09.000Z', findings: [shared, finding('isolation.cache', '/me', 'low')], verdict: 'error' });
    const m = mergeEvidence([a, b], signer).predicate;
    expect(m.findings.map((f) => f.check)).toEqual(['authz.matrix', 'isolation.cache']);
    expect(m.checks).toHaveLength(2);
    expect(m).toMatchObject({ startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:09.000Z', durationMs: 9000, verdict: 'error' });
    expect(m.reasons).toEqual(['a: check failed without a finding: x']);
    expect(m.shards!.map((s) => s.runId)).toEqual(['a', 'b']);
  });

  it('is blocked by any high or critical finding, even when a part errored', () => {
    const m = mergeEvidence([part('a', { verdict: 'error' }), part('b', { findings: [finding('isolation.cache', '/me', 'critical')] })], signer).predicate;
    expect(m.verdict).toBe('blocked');
    expect(m.reasons[0]).toMatch(/^critical finding /);
    expect(mergeEvidence([part('a', {}), part('b', {})], signer).predicate.verdict).toBe('pass');
  });

  it('refuses parts that mix commits, tiers, targets or flaws, and the same run twice', () => {
    expect(() => mergeEvidence([part('a', {}), part('b', {}, 'b'.repeat(40))], signer)).toThrow(/differ in commit/);
    expect(() => mergeEvidence([part('a', {}), part('b', { tier: 'nightly' })], signer)).toThrow(/differ in tier/);
    expect(() => mergeEvidence([part('a', {}), part('b', { target: { name: 'notes', provider: 'local', baseUrl: 'x', flaws: [] } })], signer)).toThrow(/differ in target/);
    expect(() => mergeEvidence([part('a', {}), part('b', { target: { name: 'reference-chat', provider: 'local', baseUrl: 'x', flaws: ['jwt-alg-none'] } })], signer)).toThrow(/differ in flaws/);
    expect(() => mergeEvidence([part('a', {}), part('a', {})], signer)).toThrow(/are the same run a/);
    expect(() => mergeEvidence([part('a', {})], signer)).toThrow(/at least two/);
  });
});
