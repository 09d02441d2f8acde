import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPublicKey } from '../../harness/evidence/keys.ts';
import { EVIDENCE_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE, type EvidenceStatement } from '../../harness/evidence/statement.ts';
import { verifyEvidence } from '../../harness/evidence/verify.ts';
import type { RunResult } from '../../harness/run/result.ts';
import { errorLines, ROOT, runCli } from '../helpers/cli.ts';

const HEAD = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).toString().trim();
const DEV_PUB = join(ROOT, '.breakwater/dev-key/signing-key.pub.pem');
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `bw-ev-${p}-`));
const id = (p: string) => `ev-${p}-${process.pid}-${Date.now().toString(36)}`;

interface Shard {
  out: string;
  run: RunResult;
  summary: { verdict: string; evidence: string; signer: { trust: string; keyid: string } };
}

async function shard(args: string[], env: Record<string, string> = {}): Promise<Shard> {
  const out = tmp('run');
  const r = await runCli(['run', '--out', out, '--json', ...args], { env: { BREAKWATER_RUN_ID: id('shard'), ...env } });
  expect([0, 1], r.stderr).toContain(r.code);
  return { out, run: JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')), summary: JSON.parse(r.stdout) };
}

function verified(path: string, pub: string, predicateTypes = [EVIDENCE_PREDICATE_TYPE]) {
  const r = verifyEvidence(path, { publicKeys: [loadPublicKey(pub)], commit: HEAD, predicateTypes });
  if (!r.ok) throw new Error(`${r.code}: ${r.reason}`);
  return r;
}

describe('a real run writes signed evidence', () => {
  it('with the development key when none is configured, marked untrusted; both statements verify', async () => {
    const s = await shard(['--suite', 'smoke'], { BREAKWATER_SIGNING_KEY_FILE: '', BREAKWATER_SIGNING_KEY: '' });
    const evidence = join(s.out, 'evidence.dsse.json');
    expect(s.summary.evidence).toBe(evidence);
    expect(s.summary.signer.trust).toBe('development');
    expect(statSync(join(ROOT, '.breakwater/dev-key/signing-key.pem')).mode & 0o777).toBe(0o600);

    const ev = verified(evidence, DEV_PUB);
    const st = ev.statement as EvidenceStatement;
    expect(st.subject[0]).toEqual({ name: 'git+commit', digest: { gitCommit: HEAD } });
    expect(st.subject[1]).toMatchObject({ name: 'target:reference-chat', digest: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(st.predicate).toMatchObject({ schemaVersion: 1, signer: { trust: 'development', keyid: ev.keyid }, artifact: { paths: ['target'] }, environment: { node: process.version } });
    const { schemaVersion: _v, ...run } = s.run;
    expect(st.predicate).toMatchObject(run);

    const tr = verified(join(s.out, 'test-result.dsse.json'), DEV_PUB, [TEST_RESULT_PREDICATE_TYPE]);
    expect(tr.statement.predicateType).toBe(TEST_RESULT_PREDICATE_TYPE);
    expect(tr.statement.subject).toEqual(st.subject);
    expect(tr.statement.predicate).toMatchObject({ result: 'PASSED', failedTests: [], passedTests: s.run.checks.map((c) => c.name) });

    const cli = await runCli(['verify', evidence, '--key', DEV_PUB, '--commit', HEAD]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toBe(`verified: pr run ${s.run.runId} of ${HEAD}, 0 findings, signed by ${ev.keyid} (an untrusted development key)\n`);
  });

  it('keygen writes a key pair (private 0600) and run --key signs with it, as configured', async () => {
    const keys = tmp('keys');
    const kg = await runCli(['keygen', '--out', keys]);
    expect(kg.code, kg.stderr).toBe(0);
    const priv = join(keys, 'signing-key.pem');
    const pub = join(keys, 'signing-key.pub.pem');
    expect(statSync(priv).mode & 0o777).toBe(0o600);
    expect(readFileSync(priv, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(readFileSync(pub, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const again = await runCli(['keygen', '--out', keys]);
    expect(again.code).toBe(2);
    expect(errorLines(again.stderr)[0]).toMatch(/already holds a key pair/);

    const s = await shard(['--suite', 'smoke', '--key', priv]);
    expect(s.summary.signer.trust).toBe('configured');
    expect(kg.stdout).toContain(`keyid ${s.summary.signer.keyid}`);
    expect(verified(s.summary.evidence, pub).keyid).toBe(s.summary.signer.keyid);
    const dev = await runCli(['verify', s.summary.evidence, '--key', DEV_PUB]);
    expect(dev.code).toBe(1);
    expect(errorLines(dev.stderr)[0]).toMatch(/\[BW_EVIDENCE_UNTRUSTED_KEY\]$/);
  });

  it('run --key with a bad key fails in one line before any stack starts (exit 2)', async () => {
    const out = tmp('badkey');
    const r = await runCli(['run', '--suite', 'smoke', '--out', out, '--key', DEV_PUB]);
    expect(r.code).toBe(2);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/holds a public key; signing needs the private key.*\[BW_KEY_INVALID\]$/)]);
    expect(existsSync(join(out, 'run.json'))).toBe(false);
  });
});

describe('breakwater merge', () => {
  it('merges two shards of one run into evidence that verifies, with the same findings as one unsharded run; refuses mixed tiers', async () => {
    const keys = tmp('merge-keys');
    expect((await runCli(['keygen', '--out', keys])).code).toBe(0);
    const priv = join(keys, 'signing-key.pem');
    const pub = join(keys, 'signing-key.pub.pem');
    // A flaw the matrix catches, so the union is not empty; both shards run the same flawed target.
    const env = { TARGET_FLAWS: 'message-edit-any-author' };
    const [smoke, matrix, drill] = await Promise.all([
      shard(['--suite', 'smoke', '--key', priv], env),
      shard(['--suite', 'authz/matrix', '--key', priv], env),
      shard(['--tier', 'drill', '--suite', 'smoke', '--key', priv], env),
    ]);
    // The same two suites in one unsharded run: merging the shards must give the same findings.
    const whole = await shard(['--suite', 'smoke', '--suite', 'authz/matrix', '--key', priv], env);
    expect(matrix.run.findings.length).toBeGreaterThan(0);

    const out = join(tmp('merged'), 'merged.dsse.json');
    const m = await runCli(['merge', smoke.summary.evidence, matrix.summary.evidence, '--key', pub, '--out', out, '--sign-key', priv]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/^merged 2 parts into .*: pr run pr-merged-[0-9a-f]{12} of [0-9a-f]{40}, \d+ findings, verdict blocked, signed by [0-9a-f]{64}\n$/);

    const p = (verified(out, pub).statement as EvidenceStatement).predicate;
    const union = new Map([...smoke.run.findings, ...matrix.run.findings].map((f) => [f.id, f]));
    expect(p.findings.map((f) => f.id).sort()).toEqual([...union.keys()].sort());
    expect(p.findings.map((f) => f.id).sort()).toEqual(whole.run.findings.map((f) => f.id).sort());
    expect(p.checks.map((c) => c.name).sort()).toEqual(whole.run.checks.map((c) => c.name).sort());
    expect(p.checks).toHaveLength(smoke.run.checks.length + matrix.run.checks.length);
    expect(p.verdict).toBe('blocked');
    expect(p.shards!.map((s) => s.runId).sort()).toEqual([smoke.run.runId, matrix.run.runId].sort());
    expect(p.startedAt).toBe([smoke.run.startedAt, matrix.run.startedAt].sort()[0]);
    expect(p.finishedAt).toBe([smoke.run.finishedAt, matrix.run.finishedAt].sort()[1]);
    expect(p.durationMs).toBe(Date.parse(p.finishedAt) - Date.parse(p.startedAt));
    expect(p.signer.trust).toBe('configured');

    const mixed = await runCli(['merge', smoke.summary.evidence, drill.summary.evidence, '--key', pub, '--out', join(tmp('mixed'), 'm.json'), '--sign-key', priv]);
    expect(mixed.code).toBe(1);
    expect(errorLines(mixed.stderr)).toEqual([expect.stringMatching(/differ in tier \("drill" vs "pr"\).*\[BW_EVIDENCE_MERGE_MISMATCH\]$/)]);

    const untrusted = await runCli(['merge', smoke.summary.evidence, matrix.summary.evidence, '--key', DEV_PUB, '--out', join(tmp('untrusted'), 'm.json')]);
    expect(untrusted.code).toBe(1);
    expect(errorLines(untrusted.stderr)).toEqual([expect.stringMatching(/^breakwater: cannot merge: .* not a trusted key.*\[BW_EVIDENCE_UNTRUSTED_KEY\]$/)]);
  });
});
