import { describe, expect, it } from 'vitest';
import { INTOTO_PAYLOAD_TYPE } from '../../harness/evidence/dsse.ts';
import { EVIDENCE_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE, buildTestResultStatement } from '../../harness/evidence/statement.ts';
import { describeVerified, verifyEvidence } from '../../harness/evidence/verify.ts';
import { ARTIFACT, COMMIT, evidenceStatement, fakeRun, finding, signedBytes, tempKeyPair } from '../helpers/evidence.ts';

const { key } = tempKeyPair();
const stranger = tempKeyPair().key;
const trusted = { publicKeys: [key.publicKey] };

function code(bytes: Uint8Array | string, opts: Parameters<typeof verifyEvidence>[1] = trusted): string {
  const r = verifyEvidence(typeof bytes === 'string' ? Buffer.from(bytes) : bytes, opts);
  return r.ok ? 'ok' : r.code;
}

describe('verifyEvidence', () => {
  it('accepts evidence signed by a trusted key and returns the statement, keyid and commit', () => {
    const run = fakeRun({ findings: [finding('authz.matrix', 'GET /a', 'medium')] });
    const r = verifyEvidence(signedBytes(evidenceStatement(key, run), key), { publicKeys: [stranger.publicKey, key.publicKey], commit: COMMIT });
    if (!r.ok) throw new Error(r.reason);
    expect(r.keyid).toBe(key.keyid);
    expect(r.commit).toBe(COMMIT);
    expect(r.statement.predicateType).toBe(EVIDENCE_PREDICATE_TYPE);
    expect(r.statement.subject).toEqual([
      { name: 'git+commit', digest: { gitCommit: COMMIT } },
      { name: 'target:reference-chat', digest: { sha256: ARTIFACT } },
    ]);
    expect(describeVerified(r)).toBe(`verified: pr run ${run.runId} of ${COMMIT}, 1 findings, signed by ${key.keyid}`);
  });

  it('accepts an abbreviated --commit of 7+ hex digits, refuses shorter or different ones', () => {
    const bytes = signedBytes(evidenceStatement(key), key);
    expect(code(bytes, { ...trusted, commit: COMMIT.slice(0, 7) })).toBe('ok');
    expect(code(bytes, { ...trusted, commit: COMMIT.slice(0, 6) })).toBe('BW_EVIDENCE_SUBJECT');
    expect(code(bytes, { ...trusted, commit: 'b'.repeat(40) })).toBe('BW_EVIDENCE_SUBJECT');
  });

  it('fails closed with a distinct code per failure class', () => {
    const good = signedBytes(evidenceStatement(key), key);
    const text = good.toString();
    expect(code(text.slice(0, 100))).toBe('BW_EVIDENCE_TRUNCATED');
    expect(code(text.replace('{"payloadType"', '{payloadType'))).toBe('BW_EVIDENCE_MALFORMED');
    expect(code(text.replace(/"signatures":\[.*\]/, '"signatures":[]'))).toBe('BW_EVIDENCE_UNSIGNED');
    expect(code(signedBytes(evidenceStatement(stranger), stranger))).toBe('BW_EVIDENCE_UNTRUSTED_KEY');
    const forged = JSON.parse(text);
    forged.signatures[0].sig = JSON.parse(signedBytes({ other: true }, key).toString()).signatures[0].sig;
    expect(code(JSON.stringify(forged))).toBe('BW_EVIDENCE_BAD_SIGNATURE');
    expect(code(signedBytes(evidenceStatement(key), key, 'application/json'))).toBe('BW_EVIDENCE_PAYLOAD_TYPE');
    expect(code(signedBytes({ ...evidenceStatement(key), predicateType: 'https://example.com/other/v1' }, key))).toBe('BW_EVIDENCE_PREDICATE');
    const v2 = evidenceStatement(key);
    (v2.predicate as { schemaVersion: number }).schemaVersion = 2;
    expect(verifyEvidence(signedBytes(v2, key), trusted)).toMatchObject({ code: 'BW_EVIDENCE_PREDICATE', reason: expect.stringContaining('schemaVersion 2') });
    expect(code(good, { ...trusted, commit: 'c'.repeat(40) })).toBe('BW_EVIDENCE_SUBJECT');
    expect(verifyEvidence('/nonexistent/evidence.dsse.json', trusted)).toMatchObject({ code: 'BW_EVIDENCE_MISSING', reason: '/nonexistent/evidence.dsse.json does not exist; a run writes <out>/evidence.dsse.json' });
  });

  it('checks the statement schema and that the subject agrees with the predicate', () => {
    const noFindings = evidenceStatement(key) as unknown as { predicate: Record<string, unknown> };
    delete noFindings.predicate.findings;
    expect(verifyEvidence(signedBytes(noFindings, key), trusted)).toMatchObject({ code: 'BW_EVIDENCE_PREDICATE', reason: expect.stringContaining('predicate.findings') });
    expect(code(signedBytes({ ...evidenceStatement(key), _type: 'https://in-toto.io/Statement/v0.1' }, key))).toBe('BW_EVIDENCE_PREDICATE');
    expect(code(signedBytes('just a string', key))).toBe('BW_EVIDENCE_PREDICATE');
    const noCommit = evidenceStatement(key);
    noCommit.subject = noCommit.subject.slice(1);
    expect(code(signedBytes(noCommit, key))).toBe('BW_EVIDENCE_SUBJECT');
    const otherArtifact = evidenceStatement(key);
    otherArtifact.subject[1]!.digest.sha256 = 'f'.repeat(64);
    expect(code(signedBytes(otherArtifact, key))).toBe('BW_EVIDENCE_SUBJECT');
    // The predicate's signer claim must name the key that actually signed.
    expect(code(signedBytes(evidenceStatement(stranger), key))).toBe('BW_EVIDENCE_SUBJECT');
  });

  it('reads the test-result statement only when asked to', () => {
    const st = buildTestResultStatement(fakeRun(), { commit: COMMIT, targetName: 'reference-chat', artifactDigest: ARTIFACT }, { name: 'breakwater.config.ts', sha256: ARTIFACT });
    const bytes = signedBytes(st, key, INTOTO_PAYLOAD_TYPE);
    expect(code(bytes)).toBe('BW_EVIDENCE_PREDICATE');
    const r = verifyEvidence(bytes, { ...trusted, predicateTypes: [EVIDENCE_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE] });
    if (!r.ok) throw new Error(r.reason);
    expect(r.statement.predicate).toMatchObject({ result: 'PASSED', passedTests: ['suites/smoke/smoke.pr.test.ts > answers'], failedTests: [] });
  });
});
