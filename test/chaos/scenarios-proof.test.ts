import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { ScenarioJournal } from '../../harness/run/scenario-runner.ts';
import { inParallel, runTierCli, type TierRun } from '../helpers/tier.ts';

/**
 * The proof that the chaos scenarios work: every shipped scenario, run for
 * real (real k6, real Toxiproxy, real process faults) against the clean
 * reference target, holds its hypothesis with 0 findings; and each resilience
 * flaw switch is caught by the scenario that targets it, as the finding class
 * that names the broken property.
 */
const SHIPPED = ['db-latency', 'db-reset-peer', 'redis-down', 'bandwidth-slicer', 'app-kill', 'postgres-pause', 'storm'];

const FLAWED: Record<string, { scenario: string; checks: string[] }> = {
  'ack-before-commit': { scenario: 'db-reset-peer', checks: ['chaos.lost-write'] },
  'no-db-timeout': { scenario: 'postgres-pause', checks: ['chaos.hung-requests', 'chaos.slo-during'] },
  'no-redis-reconnect': { scenario: 'redis-down', checks: ['chaos.recovery'] },
};

const runs = new Map<string, TierRun>();

beforeAll(async () => {
  const jobs = [
    { key: 'clean', run: () => runTierCli({ tier: 'nightly', scenarios: SHIPPED, timeoutMs: 900_000 }) },
    ...Object.entries(FLAWED).map(([flaw, f]) => ({ key: flaw, run: () => runTierCli({ tier: 'nightly', flaws: [flaw], scenarios: [f.scenario], timeoutMs: 300_000 }) })),
  ];
  // The long clean run beside the three short flawed ones: two stacks at a time on two cores.
  await inParallel(jobs, 2, async (j) => void runs.set(j.key, await j.run()));
}, 1_200_000);

const journals = (r: TierRun) => (r.run.scenarios ?? []) as ScenarioJournal[];
const summary = (r: TierRun) =>
  `verdict ${r.run.verdict}; findings: ${r.run.findings.map((f) => `${f.check} ${f.subject}: ${f.observed}`).join(' | ') || 'none'}; reasons: ${r.run.reasons.join(' | ')}; ` +
  journals(r)
    .map((j) => `${j.name}=${j.status} recovery ${j.recoveryMs} ${JSON.stringify(j.phases)}`)
    .join(' ; ');

describe('the clean reference target', () => {
  test('passes every shipped scenario with 0 findings', () => {
    const r = runs.get('clean')!;
    expect(r.run.findings, summary(r)).toEqual([]);
    expect(journals(r).map((j) => [j.name, j.status]), summary(r)).toEqual(SHIPPED.map((n) => [n, 'ok']));
    expect(r.run.verdict, summary(r)).toBe('pass');
    expect(r.cli.code).toBe(0);
  });

  test('each journal records the faults in place, the phases, the recovery time, the integrity check and the rollbacks', () => {
    for (const j of journals(runs.get('clean')!)) {
      expect(j.faults.length, j.name).toBeGreaterThan(0);
      for (const f of j.faults) {
        expect(f.start, `${j.name}: ${f.label}`).toBeTypeOf('number');
        expect(f.end, `${j.name}: ${f.label}`).toBeGreaterThanOrEqual(f.start!);
      }
      expect(j.recovered, j.name).toBe(true);
      expect(j.recoveryMs, j.name).toBeLessThanOrEqual(j.plan.recoveryBoundMs);
      expect(j.phases.before?.probes.length, j.name).toBeGreaterThan(0);
      expect(j.phases.after?.probes.every((p) => p.pass !== false), j.name).toBe(true);
      expect(j.integrity?.writes.acked, j.name).toBeGreaterThan(10);
      expect(j.integrity?.lost, j.name).toBe(0);
      expect(j.load?.requests, j.name).toBeGreaterThan(50);
      expect(j.series.length, j.name).toBeGreaterThan(5);
      expect(j.rollbacks.every((b) => b.ok), j.name).toBe(true);
    }
  });

  test('recovery time and the SLOs of each phase are measurements the gate can read', () => {
    const r = runs.get('clean')!;
    const recovery = r.run.measurements.filter((m) => m.slo === 'recovery-time');
    expect(recovery.map((m) => m.window.split(':')[0]).sort()).toEqual([...SHIPPED].sort());
    expect(recovery.every((m) => m.pass && m.value <= m.objective)).toBe(true);
    expect(r.run.measurements.some((m) => m.slo === 'http-latency-p95' && m.window.endsWith(':after'))).toBe(true);
  });
});

test('no artifact of the chaos runs holds a token (the load logs in; its raw k6 output is scratch and removed)', () => {
  const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
  for (const r of runs.values()) {
    for (const f of files(r.out)) expect(readFileSync(f, 'latin1'), f).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\./);
  }
});

describe('resilience flaws are caught by their scenario', () => {
  test.each(Object.entries(FLAWED))('%s is caught', (flaw, f) => {
    const r = runs.get(flaw)!;
    expect(r.run.target.flaws).toEqual([flaw]);
    const checks = r.run.findings.map((x) => x.check);
    for (const c of f.checks) expect(checks, summary(r)).toContain(c);
    expect(journals(r)[0]?.status, summary(r)).toBe('deviated');
    expect(r.run.verdict, summary(r)).toBe('blocked');
    expect(r.cli.code).toBe(1);
  });

  test('ack-before-commit: the lost writes were acknowledged, then are missing', () => {
    const j = journals(runs.get('ack-before-commit')!)[0]!;
    expect(j.integrity!.lost).toBeGreaterThan(0);
    expect(j.integrity!.lost).toBeLessThanOrEqual(j.integrity!.writes.acked);
  });

  test('no-db-timeout: requests never complete while Postgres is paused', () => {
    const j = journals(runs.get('no-db-timeout')!)[0]!;
    expect(j.hungRequests).toBeGreaterThan(0);
    const p95 = j.phases.during!.probes.find((p) => p.indicator === 'http_latency_p95_ms')!;
    expect(p95.pass).toBe(false);
  });

  test('no-redis-reconnect: the service never recovers within the bound', () => {
    const j = journals(runs.get('no-redis-reconnect')!)[0]!;
    expect(j.recovered).toBe(false);
    expect(j.recoveryMs).toBeUndefined();
  });
});
