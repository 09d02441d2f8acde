import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RunResult } from '../../harness/run/result.ts';
import { COMMIT, evidenceStatement, fakeRun, signedBytes, tempKeyPair } from '../helpers/evidence.ts';

/** The gate's clock in these tests: 12 h after fakeRun() finished. */
export const NOW = '2026-01-01T12:00:00.000Z';

/** A policy file for the tests: a pr stage, a nightly stage that needs two tiers, a release stage that needs a rollback drill. */
export const TEST_POLICY = `export default {
  slos: ['http-latency-p95', 'http-error-rate'],
  stages: {
    pr: { tiers: ['pr'], maxSeverity: 'medium', maxEvidenceAge: '24h' },
    nightly: { tiers: ['pr', 'nightly'], maxSeverity: 'medium', maxEvidenceAge: '24h' },
    release: { tiers: ['pr'], maxSeverity: 'critical', maxEvidenceAge: '24h', drills: { rollback: '35d' } },
  },
};
`;

/** A scratch dir with a trusted key pair, a stranger's key pair and the test policy, and a writer for evidence files. */
export function gateWorkspace(prefix = 'bw-gate-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const trusted = tempKeyPair(mkdtempSync(join(dir, 'trusted-')));
  const stranger = tempKeyPair(mkdtempSync(join(dir, 'stranger-')));
  // Policy files are ES modules, like the project they would live in.
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  const policy = join(dir, 'gate.policy.ts');
  writeFileSync(policy, TEST_POLICY);
  const file = (name: string, content: Uint8Array | string): string => {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    return p;
  };
  /** Signed evidence of a run (default: a clean pr run of COMMIT) by the trusted key. */
  const evidence = (name: string, over: Partial<RunResult> & { drills?: unknown[]; scenarios?: unknown[] } = {}, commit = COMMIT): string =>
    file(name, signedBytes(evidenceStatement(trusted.key, fakeRun(over), commit), trusted.key));
  /** The args every gate call shares. */
  const args = (stage: string, evidenceFiles: string[], ...more: string[]) => ['gate', '--stage', stage, '--evidence', ...evidenceFiles, '--policy', policy, '--key', trusted.public, '--now', NOW, ...more];
  return { dir, trusted, stranger, policy, file, evidence, args };
}

/** The lines of the human verdict that state a blocking reason. */
export const reasonLines = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('  ✗ '));
