import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.ts';

const DEV_PUB = join(ROOT, '.breakwater/dev-key/signing-key.pub.pem');
const NO_KEY = { BREAKWATER_SIGNING_KEY_FILE: '', BREAKWATER_SIGNING_KEY: '' };

// The two runs go one after the other: two stacks at once on a small machine slow the
// timing-sensitive abuse checks enough to fail them, which is not what this test is about.

/** A real PR-tier run (development key), then the real gate on its evidence with the shipped gate.policy.ts. */
async function runThenGate(flaws: string, suites: string[] = []) {
  const out = mkdtempSync(join(tmpdir(), 'bw-gate-e2e-'));
  const run = await runCli(['run', '--tier', 'pr', '--out', out, '--json', ...suites.flatMap((s) => ['--suite', s])], { env: { ...NO_KEY, TARGET_FLAWS: flaws, BREAKWATER_RUN_ID: `gate-e2e-${flaws || 'clean'}-${process.pid}` }, timeoutMs: 300_000 });
  expect([0, 1], run.stderr).toContain(run.code);
  const gate = await runCli(['gate', '--stage', 'pr', '--evidence', join(out, 'evidence.dsse.json'), '--policy', 'gate.policy.ts', '--key', DEV_PUB]);
  const json = await runCli(['gate', '--stage', 'pr', '--evidence', join(out, 'evidence.dsse.json'), '--policy', 'gate.policy.ts', '--key', DEV_PUB, '--json']);
  return { run, gate, decision: JSON.parse(json.stdout) };
}

describe('gate on a real run', () => {
  it('promotes the clean reference target at the pr stage', async () => {
    const { run, gate, decision } = await runThenGate('');
    expect(run.code, run.stdout).toBe(0);
    expect(gate.code, gate.stdout + gate.stderr).toBe(0);
    expect(gate.stdout.split('\n')[0]).toBe('Breakwater gate, pr stage: PROMOTE');
    expect(decision).toMatchObject({ verdict: 'PROMOTE', stage: 'pr', reasons: [], rubric: { noGo: false } });
    // Signed with the development key: delivery discipline cannot be full.
    expect(decision.rubric.categories.find((c: { id: string }) => c.id === 'delivery').basis).toMatch(/configured key: no/);
  }, 360_000);

  it('blocks it with TARGET_FLAWS=jwt-alg-none', async () => {
    // Only the suite that catches it: the clean case above already runs the whole PR tier.
    const { run, gate, decision } = await runThenGate('jwt-alg-none', ['authz/token-tampering']);
    expect(run.code, run.stdout).toBe(1);
    expect(gate.code, gate.stdout + gate.stderr).toBe(1);
    expect(gate.stdout.split('\n')[0]).toBe('Breakwater gate, pr stage: BLOCKED');
    expect(decision.verdict).toBe('BLOCKED');
    expect(decision.reasons.length).toBeGreaterThan(0);
    for (const r of decision.reasons) expect(r).toMatchObject({ code: 'BW_GATE_FINDING', message: expect.stringMatching(/^(critical|high) finding \S+ \(authz\.token-tampering\)/) });
  }, 360_000);
});
