import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INTOTO_PAYLOAD_TYPE, serializeEnvelope, signEnvelope } from '../../harness/evidence/dsse.ts';
import { generateKeyPair, parsePrivateKey, type SigningKey } from '../../harness/evidence/keys.ts';
import { buildEvidenceStatement, type EvidenceStatement } from '../../harness/evidence/statement.ts';
import { findingId, type Finding, type RunResult } from '../../harness/run/result.ts';

export const COMMIT = 'a'.repeat(40);
export const ARTIFACT = createHash('sha256').update('artifact').digest('hex');

/** A fresh key pair on disk: `private` (0600) and `public` PEM files, plus the loaded signing key. */
export function tempKeyPair(dir = mkdtempSync(join(tmpdir(), 'bw-key-'))): { dir: string; private: string; public: string; key: SigningKey } {
  const pair = generateKeyPair();
  const priv = join(dir, 'signing-key.pem');
  const pub = join(dir, 'signing-key.pub.pem');
  writeFileSync(priv, pair.privatePem, { mode: 0o600 });
  chmodSync(priv, 0o600);
  writeFileSync(pub, pair.publicPem);
  return { dir, private: priv, public: pub, key: parsePrivateKey(pair.privatePem, priv) };
}

export function finding(check: string, subject: string, severity: Finding['severity'] = 'high'): Finding {
  return { id: findingId(check, subject), check, suite: 'suites/x.pr.test.ts', severity, title: `${check} on ${subject}`, subject, observed: '200', expected: '403', reproduce: { command: 'npx breakwater run' } };
}

/** A plausible run result, without running anything. */
export function fakeRun(over: Partial<RunResult> = {}): RunResult {
  return {
    schemaVersion: 1,
    runId: 'pr-20260101T000000-abcdef',
    tier: 'pr',
    verdict: 'pass',
    reasons: [],
    target: { name: 'reference-chat', provider: 'local', baseUrl: 'http://127.0.0.1:1', flaws: [] },
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:05.000Z',
    durationMs: 5000,
    tools: { node: '20.19.0' },
    seeds: { fastCheck: 42 },
    checks: [{ name: 'suites/smoke/smoke.pr.test.ts > answers', suite: 'suites/smoke/smoke.pr.test.ts', state: 'passed', durationMs: 12, findings: 0 }],
    findings: [],
    measurements: [],
    incidents: [],
    teardownErrors: [],
    ...over,
  };
}

export function evidenceStatement(key: SigningKey, run: RunResult = fakeRun(), commit = COMMIT): EvidenceStatement {
  return buildEvidenceStatement(run, {
    subject: { commit, targetName: run.target.name, artifactDigest: ARTIFACT },
    dirty: false,
    artifact: { paths: ['target'], files: 3 },
    signer: { trust: key.trust, keyid: key.keyid },
  });
}

/** Signs any JSON value as an envelope and returns the file bytes. */
export function signedBytes(value: unknown, key: SigningKey, payloadType = INTOTO_PAYLOAD_TYPE): Buffer {
  return Buffer.from(serializeEnvelope(signEnvelope(Buffer.from(JSON.stringify(value)), payloadType, key)));
}
