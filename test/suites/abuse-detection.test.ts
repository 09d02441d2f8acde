import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { inParallel, runTierCli, type TierRun } from '../helpers/tier.ts';

/**
 * The proof that the abuse suites work: run for real against the reference
 * target, each flaw switch is caught as a finding of its check, the clean
 * target gives none, a crash is recorded as a finding while the run still
 * finishes and leaves nothing behind, and a recorded counterexample replays.
 */
const ABUSE_SUITES = ['abuse/', 'ssrf/', 'telemetry/'];

const EXPECTED: Record<string, string[]> = {
  'no-socket-rate-limit': ['abuse.rate-limit'],
  'rate-limit-per-connection': ['abuse.rate-limit'],
  'no-payload-cap': ['abuse.payload-guard'],
  'rtc-no-shape-check': ['abuse.payload-guard', 'abuse.relay-leak'],
  'ssrf-no-guard': ['ssrf.canary-hit'],
  'ssrf-follow-redirect': ['ssrf.canary-hit'],
  'ssrf-loopback-only': ['ssrf.not-blocked'],
  'token-in-logs': ['telemetry.secret-leak'],
  'crash-on-malformed-frame': ['abuse.crash'],
};

const runs = new Map<string, TierRun>();

beforeAll(async () => {
  const jobs = [{ key: 'clean', flaws: [] as string[] }, ...Object.keys(EXPECTED).map((f) => ({ key: f, flaws: [f] }))];
  await inParallel(jobs, 2, async (j) => void runs.set(j.key, await runTierCli({ flaws: j.flaws, suites: ABUSE_SUITES })));
}, 900_000);

const summary = (r: TierRun) => `verdict ${r.run.verdict}; findings: ${r.run.findings.map((f) => `${f.check} ${f.subject}`).join(' | ') || 'none'}; reasons: ${r.run.reasons.slice(0, 5).join(' | ')}`;

describe('abuse, SSRF and telemetry suites on the reference target', () => {
  test('the clean target gives 0 findings and passes', () => {
    const r = runs.get('clean')!;
    expect(r.run.findings, summary(r)).toEqual([]);
    expect(r.run.verdict, summary(r)).toBe('pass');
  });

  test.each(Object.entries(EXPECTED))('%s is caught as one of %j and blocks', (flaw, checks) => {
    const r = runs.get(flaw)!;
    expect(r.run.findings.some((f) => checks.includes(f.check)), summary(r)).toBe(true);
    expect(r.run.verdict, summary(r)).toBe('blocked');
    expect(r.cli.code).toBe(1);
  });

  test('a crash is a finding, the run still finishes, and nothing is left behind', () => {
    // runTierCli already asserted that no process, port or temp dir of the run survived.
    const r = runs.get('crash-on-malformed-frame')!;
    expect(r.run.findings.find((f) => f.check === 'abuse.crash'), summary(r)).toMatchObject({ severity: 'critical' });
    expect(r.run.incidents.some((i) => i.service === 'app' && i.unexpected), summary(r)).toBe(true);
    expect(r.run.finishedAt).toEqual(expect.any(String));
  });

  test('no artifact of a leaky run holds a token: the target logged them, the harness redacted every file it wrote', () => {
    const r = runs.get('token-in-logs')!;
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
    const written = files(r.out);
    expect(written.some((f) => f.endsWith('app.log'))).toBe(true);
    const jwt = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\./;
    for (const f of written) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(jwt);
      // Signed envelopes carry their statement in base64: look inside too.
      if (f.endsWith('.dsse.json')) expect(Buffer.from(JSON.parse(text).payload, 'base64').toString('utf8'), `${f} payload`).not.toMatch(jwt);
    }
  });

  test('generated-input findings record their seed and counterexample path', () => {
    const f = runs.get('no-payload-cap')!.run.findings.find((x) => x.check === 'abuse.payload-guard');
    expect(f?.reproduce).toMatchObject({ seed: expect.any(Number), command: expect.stringMatching(/^npx breakwater replay [0-9a-f]{16} --run /) });
  });

  test('breakwater replay re-runs exactly the recorded case on a fresh stack and reproduces it', async () => {
    const r = runs.get('no-payload-cap')!;
    const f = r.run.findings.find((x) => x.check === 'abuse.payload-guard' && x.reproduce.seed !== undefined)!;
    const replay = await runCli(['replay', f.id, '--run', r.out, '--json'], { timeoutMs: 180_000 });
    expect(replay.code, replay.stderr).toBe(1);
    expect(JSON.parse(replay.stdout)).toMatchObject({ reproduced: true, finding: f.id });
  }, 200_000);
});
