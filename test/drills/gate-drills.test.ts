import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.ts';
import { runTierCli, type TierRun } from '../helpers/tier.ts';

/**
 * A release gate that requires a rehearsed rollback reads it from real drill
 * evidence: it promotes on a fresh passing rollback drill, and blocks when the
 * drill evidence is missing or older than the policy allows.
 */
const DEV_PUB = join(ROOT, '.breakwater/dev-key/signing-key.pub.pem');
const POLICY = `export default {
  slos: [],
  stages: {
    pr: { tiers: ['drill'], maxSeverity: 'medium', maxEvidenceAge: '90d' },
    nightly: { tiers: ['drill'], maxSeverity: 'medium', maxEvidenceAge: '90d' },
    release: { tiers: ['drill'], maxSeverity: 'medium', maxEvidenceAge: '90d', drills: { rollback: '35d' } },
  },
};
`;

let drilled: TierRun;
let undrilled: TierRun;
let policy: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-gate-drill-'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  policy = join(dir, 'gate.policy.ts');
  writeFileSync(policy, POLICY);
  drilled = await runTierCli({ tier: 'drill', drills: ['rollback'], timeoutMs: 300_000 });
  // The drill tier's smoke suite alone: valid drill-tier evidence that carries no drill.
  undrilled = await runTierCli({ tier: 'drill', suites: ['smoke/'], timeoutMs: 300_000 });
}, 600_000);

const gate = (evidence: string, now?: string) =>
  runCli(['gate', '--stage', 'release', '--evidence', evidence, '--policy', policy, '--key', DEV_PUB, '--json', ...(now ? ['--now', now] : [])], { env: { BREAKWATER_SIGNING_KEY_FILE: '', BREAKWATER_SIGNING_KEY: '' } });

describe('the release gate on real drill evidence', () => {
  test('the rollback drill ran, passed, and its record carries its completion time', () => {
    const drills = (drilled.run.drills ?? []) as Array<{ name: string; status: string; completedAt: string }>;
    expect(drills.map((d) => [d.name, d.status]), JSON.stringify(drilled.run.reasons)).toEqual([['rollback', 'passed']]);
    expect(Date.parse(drills[0]!.completedAt)).toBeGreaterThan(Date.parse(drilled.run.startedAt));
    // The evidence predicate carries it too: that is what the gate reads.
    const env = JSON.parse(readFileSync(join(drilled.out, 'evidence.dsse.json'), 'utf8')) as { payload: string };
    const predicate = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')).predicate;
    expect(predicate.drills[0]).toMatchObject({ name: 'rollback', status: 'passed', completedAt: drills[0]!.completedAt });
  });

  test('no artifact of the drill run holds a token', () => {
    const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
    for (const f of files(drilled.out)) expect(readFileSync(f, 'latin1'), f).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\./);
  });

  test('a fresh passing rollback drill promotes', async () => {
    const r = await gate(join(drilled.out, 'evidence.dsse.json'));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).verdict).toBe('PROMOTE');
  });

  test('the same evidence 40 days later is stale and blocks', async () => {
    const completed = Date.parse(((drilled.run.drills ?? []) as Array<{ completedAt: string }>)[0]!.completedAt);
    const r = await gate(join(drilled.out, 'evidence.dsse.json'), new Date(completed + 40 * 86_400_000).toISOString());
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).reasons.map((x: { code: string }) => x.code)).toContain('BW_GATE_DRILL_STALE');
  });

  test('drill-tier evidence without the rollback drill blocks as missing', async () => {
    expect(undrilled.run.drills ?? []).toEqual([]);
    const r = await gate(join(undrilled.out, 'evidence.dsse.json'));
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).reasons.map((x: { code: string }) => x.code)).toContain('BW_GATE_DRILL_MISSING');
  });
});
