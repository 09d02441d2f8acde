import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasStackTrace, runCli } from '../helpers/cli.ts';
import { evidenceStatement, signedBytes } from '../helpers/evidence.ts';
import { gateWorkspace, reasonLines } from './evidence-files.ts';

const ws = gateWorkspace('bw-gate-closed-');
const good = ws.evidence('good.dsse.json');
const text = signedBytes(evidenceStatement(ws.trusted.key), ws.trusted.key).toString();

function forged(): string {
  const env = JSON.parse(text);
  env.signatures[0].sig = JSON.parse(signedBytes({ other: true }, ws.trusted.key).toString()).signatures[0].sig;
  return JSON.stringify(env);
}

function withPredicate(edit: (st: ReturnType<typeof evidenceStatement>) => void): Buffer {
  const st = evidenceStatement(ws.trusted.key);
  edit(st);
  return signedBytes(st, ws.trusted.key);
}

const ago = (days: number) => new Date(Date.parse('2026-01-01T12:00:00.000Z') - days * 86_400_000).toISOString();

/**
 * The twelve classes of evidence a gate must refuse, each through the real CLI:
 * verdict BLOCKED, exit 1, exactly one reason line with its own code.
 */
const CASES: { n: number; name: string; stage?: string; evidence: () => string[]; args?: string[]; code: string; reason: RegExp }[] = [
  { n: 1, name: 'missing evidence', evidence: () => [join(ws.dir, 'nope.dsse.json')], code: 'BW_EVIDENCE_MISSING', reason: /nope\.dsse\.json does not exist/ },
  { n: 2, name: 'unsigned', evidence: () => [ws.file('unsigned.json', text.replace(/"signatures":\[.*\]/, '"signatures":[]'))], code: 'BW_EVIDENCE_UNSIGNED', reason: /is unsigned/ },
  { n: 3, name: 'bad signature', evidence: () => [ws.file('badsig.json', forged())], code: 'BW_EVIDENCE_BAD_SIGNATURE', reason: /bad signature/ },
  { n: 4, name: 'untrusted key', evidence: () => [ws.file('untrusted.json', signedBytes(evidenceStatement(ws.stranger.key), ws.stranger.key))], code: 'BW_EVIDENCE_UNTRUSTED_KEY', reason: /not a trusted key/ },
  { n: 5, name: 'payload type not in-toto', evidence: () => [ws.file('ptype.json', signedBytes(evidenceStatement(ws.trusted.key), ws.trusted.key, 'application/json'))], code: 'BW_EVIDENCE_PAYLOAD_TYPE', reason: /payload type "application\/json"/ },
  { n: 6, name: 'unknown predicate type', evidence: () => [ws.file('ptype2.json', withPredicate((st) => ((st as { predicateType: string }).predicateType = 'https://example.com/x/v9')))], code: 'BW_EVIDENCE_PREDICATE', reason: /predicate type "https:\/\/example.com\/x\/v9"/ },
  { n: 6, name: 'unknown schema version', evidence: () => [ws.file('v2.json', withPredicate((st) => ((st.predicate as { schemaVersion: number }).schemaVersion = 2)))], code: 'BW_EVIDENCE_PREDICATE', reason: /schemaVersion 2/ },
  { n: 7, name: 'subject commit mismatch', evidence: () => [good], args: ['--commit', 'b'.repeat(40)], code: 'BW_EVIDENCE_SUBJECT', reason: /is evidence for commit aaaaaaaaaaaa, not b{40}/ },
  { n: 8, name: 'stale evidence', evidence: () => [ws.evidence('stale.json', { startedAt: ago(3), finishedAt: ago(2) })], code: 'BW_GATE_STALE', reason: /pr run \S+ finished 48h ago .*older than the pr stage's 24h limit/ },
  { n: 9, name: 'a required tier missing', stage: 'nightly', evidence: () => [good], code: 'BW_GATE_TIER_MISSING', reason: /no nightly tier evidence: the nightly stage requires pr, nightly \(given: pr\)/ },
  { n: 10, name: 'a required drill missing', stage: 'release', evidence: () => [ws.evidence('nodrill.json', { drills: [{ name: 'restore', completedAt: ago(1), status: 'passed' }, { name: 'rollback', completedAt: ago(1), status: 'failed' }] })], code: 'BW_GATE_DRILL_MISSING', reason: /no passing rollback drill .*the latest ended "failed"/ },
  { n: 10, name: 'a required drill stale', stage: 'release', evidence: () => [ws.evidence('olddrill.json', { drills: [{ name: 'rollback', completedAt: ago(40), status: 'passed' }] })], code: 'BW_GATE_DRILL_STALE', reason: /rollback drill completed 40d ago .*older than the release stage's 35d limit/ },
  { n: 11, name: 'malformed JSON', evidence: () => [ws.file('malformed.json', `${text}}`)], code: 'BW_EVIDENCE_MALFORMED', reason: /is not valid JSON/ },
  { n: 12, name: 'truncated file', evidence: () => [ws.file('truncated.json', text.slice(0, 200))], code: 'BW_EVIDENCE_TRUNCATED', reason: /is truncated/ },
];

describe('breakwater gate fails closed', () => {
  it('promotes good evidence (the control for every case below)', async () => {
    for (const stage of ['pr', 'release']) {
      const ev = stage === 'release' ? ws.evidence('drilled.json', { drills: [{ name: 'rollback', completedAt: '2025-12-20T00:00:00Z', status: 'passed' }] }) : good;
      const r = await runCli(ws.args(stage, [ev]));
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe(`Breakwater gate, ${stage} stage: PROMOTE`);
      expect(reasonLines(r.stdout)).toEqual([]);
    }
  });

  it.concurrent.each(CASES)('class $n, $name: BLOCKED, one line, its own code, exit 1', async (c) => {
    const r = await runCli(ws.args(c.stage ?? 'pr', c.evidence(), ...(c.args ?? [])));
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toBe(`Breakwater gate, ${c.stage ?? 'pr'} stage: BLOCKED`);
    const lines = reasonLines(r.stdout);
    expect(lines, r.stdout).toHaveLength(1);
    expect(lines[0]).toMatch(c.reason);
    expect(lines[0]).toMatch(new RegExp(`\\[${c.code}\\]$`));
    expect(hasStackTrace(r.stdout)).toBe(false);
  });

  it('covers all twelve classes with distinct codes (6 is one code for type and version; 10 has missing and stale)', () => {
    expect(new Set(CASES.map((c) => c.n))).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    expect(new Set(CASES.map((c) => c.code)).size).toBe(13);
  });

  it('--json carries the same reason as { code, message }', async () => {
    const r = await runCli([...ws.args('pr', [ws.file('trunc2.json', text.slice(0, 300))]), '--json']);
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout);
    expect(d).toMatchObject({ verdict: 'BLOCKED', stage: 'pr', reasons: [{ code: 'BW_EVIDENCE_TRUNCATED', message: expect.stringMatching(/trunc2\.json is truncated/) }], waived: [], expiredWaivers: [], flaky: [] });
    expect(Object.keys(d.rubric)).toEqual(expect.arrayContaining(['categories', 'total', 'band', 'noGo']));
  });

  it('refuses evidence of two different commits', async () => {
    const other = ws.evidence('other-commit.json', { tier: 'nightly' }, 'c'.repeat(40));
    const r = await runCli(ws.args('nightly', [good, other]));
    expect(r.code).toBe(1);
    expect(reasonLines(r.stdout)).toEqual([expect.stringMatching(/is evidence for commit aaaaaaaaaaaa but .* is for cccccccccccc.*\[BW_EVIDENCE_SUBJECT\]$/)]);
  });

  it('evidence finished after the gate\'s clock is not fresh either', async () => {
    const r = await runCli(ws.args('pr', [ws.evidence('future.json', { finishedAt: '2026-01-02T12:00:00.000Z' })]));
    expect(r.code).toBe(1);
    expect(reasonLines(r.stdout)).toEqual([expect.stringMatching(/after the gate's clock.*\[BW_GATE_STALE\]$/)]);
  });

  it('usage errors exit 2 in one line: unknown stage, a stage the policy lacks, a bad policy, an unknown option, a bad --now', async () => {
    const noRelease = ws.file('pr-only.policy.ts', `export default { stages: { pr: { tiers: ['pr'], maxSeverity: 'high', maxEvidenceAge: '24h' } } };\n`);
    const badAge = ws.file('bad-age.policy.ts', `export default { stages: { pr: { tiers: ['pr'], maxSeverity: 'high', maxEvidenceAge: '1 day' } } };\n`);
    const badTier = ws.file('bad-tier.policy.ts', `export default { stages: { pr: { tiers: ['weekly'], maxSeverity: 'high', maxEvidenceAge: '24h' } } };\n`);
    const cases: [string[], RegExp][] = [
      [ws.args('prod', [good]), /option '--stage <stage>' argument 'prod' is invalid/],
      [[...ws.args('release', [good]), '--policy', noRelease], /pr-only\.policy\.ts defines no "release" stage \(it defines: pr\)/],
      [[...ws.args('pr', [good]), '--policy', badAge], /invalid gate policy policy\.stages\.pr\.maxEvidenceAge: must be a duration.*fix .*bad-age\.policy\.ts/],
      [[...ws.args('pr', [good]), '--policy', badTier], /invalid gate policy policy\.stages\.pr\.tiers\[0\]/],
      [[...ws.args('pr', [good]), '--policy', join(ws.dir, 'none.policy.ts')], /no gate policy at .*none\.policy\.ts/],
      [[...ws.args('pr', [good]), '--fast'], /unknown option '--fast'/],
      [[...ws.args('pr', [good]), '--now', 'yesterday'], /--now "yesterday" is not an ISO date-time/],
    ];
    await Promise.all(
      cases.map(async ([args, msg]) => {
        const r = await runCli(args);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stdout).toBe('');
        const lines = r.stderr.split('\n').filter(Boolean);
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(msg);
      }),
    );
  });
});
