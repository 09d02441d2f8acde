import { describe, expect, test } from 'vitest';
import { afterObjective, AFTER_BASELINE_FACTOR } from '../../harness/run/scenario-runner.ts';
import { runTierCli } from '../helpers/tier.ts';

describe('the after phase is judged against the run\'s own baseline', () => {
  const p95 = { indicator: 'http_latency_p95_ms' as const, objective: 250 };
  test('a latency may be up to 1.5 × the baseline when that is above the objective', () => {
    expect(AFTER_BASELINE_FACTOR).toBe(1.5);
    expect(afterObjective(p95, 300)).toBe(450); // a loaded runner: baseline already over 250
    expect(afterObjective(p95, 100)).toBe(250); // a fast one: the objective stands
    expect(afterObjective(p95, undefined)).toBe(250);
  });
  test('strict SLOs, rates and readiness stay absolute', () => {
    expect(afterObjective({ ...p95, strict: true }, 300)).toBe(250);
    expect(afterObjective({ indicator: 'http_error_rate', objective: 0.01 }, 0.5)).toBe(0.01);
    expect(afterObjective({ indicator: 'readiness', objective: 1 }, 0.5)).toBe(1);
  });
});

describe('a baseline that misses its objective', () => {
  test('no fault is applied, the scenario is inconclusive (not failed), and the run has no finding', async () => {
    const r = await runTierCli({ config: 'test/fixtures/configs/impossible-baseline.config.ts', scenarios: ['db-reset-peer'], timeoutMs: 120_000 });
    const journal = (r.run.scenarios as Array<{ status: string; faults: unknown[]; reasons: string[] }>)[0]!;
    const ctx = JSON.stringify({ verdict: r.run.verdict, reasons: r.run.reasons, journal: { status: journal.status, reasons: journal.reasons, faults: journal.faults.length } });
    expect(journal.status, ctx).toBe('aborted');
    expect(journal.faults, ctx).toEqual([]);
    expect(journal.reasons[0], ctx).toMatch(/the baseline itself missed the objective before any fault \(http-latency-p95 was [\d.]+ against 0\.001/);
    const check = r.run.checks.find((c) => c.name === 'chaos > db-reset-peer')!;
    expect(check, ctx).toMatchObject({ state: 'skipped', inconclusive: { cases: 1, conclusive: 0 } });
    expect(r.run.findings, ctx).toEqual([]);
    expect(r.run.verdict, ctx).toBe('pass');
    expect(r.cli.code, ctx).toBe(0);
  }, 150_000);
});
