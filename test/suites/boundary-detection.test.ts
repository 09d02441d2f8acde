import { beforeAll, describe, expect, test } from 'vitest';
import { inParallel, runTierCli, type TierRun } from '../helpers/tier.ts';

/**
 * The proof that the boundary suites work: the PR tier, run for real against
 * the reference target, finds each flaw switch as a finding of the right
 * check, and finds nothing on the clean target. The same suites, unchanged,
 * are silent on the clean notes fixture and catch its own flaw.
 */
const BOUNDARY_SUITES = ['authz/', 'isolation/'];

const EXPECTED: Record<string, string> = {
  'message-edit-any-author': 'authz.matrix',
  'channel-read-cross-tenant': 'authz.matrix',
  'admin-demote-parse': 'authz.matrix',
  'jwt-alg-none': 'authz.token-tampering',
  'expired-token-accepted': 'authz.token-tampering',
  'bot-scope-ignored': 'authz.matrix',
  'ws-room-leak': 'isolation.realtime',
  'upload-no-membership': 'isolation.uploads',
  'cache-key-no-tenant': 'isolation.cache',
};

const runs = new Map<string, TierRun>();

beforeAll(async () => {
  const jobs = [
    { key: 'clean', run: () => runTierCli({ suites: BOUNDARY_SUITES }) },
    ...Object.keys(EXPECTED).map((flaw) => ({ key: flaw, run: () => runTierCli({ flaws: [flaw], suites: BOUNDARY_SUITES }) })),
    { key: 'notes-clean', run: () => runTierCli({ config: 'test/fixtures/notes/breakwater.config.ts', suites: BOUNDARY_SUITES }) },
    { key: 'notes-flawed', run: () => runTierCli({ config: 'test/fixtures/notes/breakwater.config.ts', suites: BOUNDARY_SUITES, notesFlaws: ['note-read-cross-org'] }) },
  ];
  // Two stacks at a time: this machine has two cores.
  await inParallel(jobs, 2, async (j) => void runs.set(j.key, await j.run()));
}, 900_000);

const summary = (r: TierRun) => `verdict ${r.run.verdict}; findings: ${r.run.findings.map((f) => `${f.check} ${f.subject}`).join(' | ') || 'none'}; reasons: ${r.run.reasons.join(' | ')}`;

describe('reference target', () => {
  test('the clean target gives 0 findings and passes', () => {
    const r = runs.get('clean')!;
    expect(r.run.findings, summary(r)).toEqual([]);
    expect(r.run.verdict, summary(r)).toBe('pass');
    expect(r.cli.code).toBe(0);
    expect(r.run.checks.length).toBeGreaterThan(5);
  });

  test.each(Object.entries(EXPECTED))('%s is caught as %s and blocks', (flaw, check) => {
    const r = runs.get(flaw)!;
    expect(r.run.target.flaws).toEqual([flaw]);
    expect(r.run.findings.map((f) => f.check), summary(r)).toContain(check);
    expect(r.run.verdict, summary(r)).toBe('blocked');
    expect(r.cli.code).toBe(1);
  });

  test('finding ids are stable: the same check on the same subject has the same id in two runs', () => {
    const a = runs.get('cache-key-no-tenant')!.run.findings;
    const b = runs.get('channel-read-cross-tenant')!.run.findings;
    const shared = a.filter((f) => b.some((g) => g.check === f.check && g.subject === f.subject));
    expect(shared.length).toBeGreaterThan(0);
    for (const f of shared) expect(b.find((g) => g.check === f.check && g.subject === f.subject)!.id).toBe(f.id);
  });

  test('findings carry severity, observed/expected, a redacted excerpt and a reproduce command', () => {
    for (const f of runs.get('message-edit-any-author')!.run.findings) {
      expect(f).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{16}$/), severity: expect.stringMatching(/critical|high|medium|low/), observed: expect.any(String), expected: expect.any(String) });
      expect(f.reproduce.command).toMatch(/breakwater run/);
      expect(f.excerpt ?? '').not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\./);
    }
  });
});

describe('the second fixture service, same suites', () => {
  test('clean notes gives 0 findings', () => {
    const r = runs.get('notes-clean')!;
    expect(r.run.findings, summary(r)).toEqual([]);
    expect(r.run.verdict, summary(r)).toBe('pass');
  });

  test('its own flaw (note-read-cross-org) is caught', () => {
    const r = runs.get('notes-flawed')!;
    expect(r.run.findings.length, summary(r)).toBeGreaterThan(0);
    expect(r.run.findings.map((f) => f.check)).toContain('authz.matrix');
    expect(r.run.verdict).toBe('blocked');
  });
});
