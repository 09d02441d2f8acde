import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import config from '../../breakwater.config.ts';
import { resolveConfig, type ResolvedConfig } from '../../harness/config/load-config.ts';
import type { Credentials } from '../../harness/config/target.ts';
import { runCanaryDrill } from '../../harness/drills/canary.ts';
import type { CanaryDrill, DrillContext, DrillOutcome } from '../../harness/drills/types.ts';
import { Redactor } from '../../harness/safety/redact.ts';
import { processesOfStack, processTree } from '../../harness/stack/managed-process.ts';
import { startLocalStack } from '../../harness/stack/local-provider.ts';
import { isListening } from '../../harness/stack/ports.ts';
import type { StartedInstance, StartedStack } from '../../harness/stack/types.ts';
import { credentialSecrets } from '../../harness/suite/http-auth.ts';
import rollbackDrill from '../../scenarios/drills/rollback.ts';
import { expectNothingLeft } from '../helpers/leftovers.ts';

/**
 * The canary drill against the real reference stack (one stack, three
 * candidates): a clean candidate is promoted and the stack restored; a
 * candidate that breaks the tenant boundary is rolled back with every
 * acknowledged write intact; and a flawed candidate the canary cannot see
 * is promoted, which must fail the rehearsal, never pass it.
 */
const ROOT = join(import.meta.dirname, '../..');
const runId = `canary-${process.pid}`;
/** Shorter than the reference drill's 15 s so the file stays near two minutes; the reference drill itself runs the rollback. */
const shortDrill: CanaryDrill = { ...rollbackDrill, evaluateFor: '8s' };

let resolved: ResolvedConfig;
let stack: StartedStack;
let world: unknown;
let out: string;
const redactor = new Redactor([]);
/** Left running by the last test on purpose: the stack's own stop() must take it down. */
let leftInstance: StartedInstance | undefined;
const creds = new Map<string, Promise<Credentials>>();

function context(dir: string, options?: DrillContext['options']): DrillContext {
  const outDir = join(out, 'drills', dir);
  mkdirSync(outDir, { recursive: true });
  return {
    config: resolved,
    stack,
    world,
    runId,
    outDir,
    redactor,
    options,
    login(p) {
      let c = creds.get(p);
      if (!c) {
        c = resolved.target.principals[p]!.login({ baseUrl: stack.info.baseUrl, world, runId }).then((cred) => {
          for (const s of credentialSecrets(cred)) redactor.add(s);
          return cred;
        });
        creds.set(p, c);
      }
      return c;
    },
  };
}

/** Marker processes (the stack's run id) that are not a service of the stack or one of its children: a leaked candidate or k6. */
function strayProcesses(): number[] {
  const owned = new Set(Object.values(stack.info.services).flatMap((s) => (s.pid ? processTree(s.pid) : [])));
  return processesOfStack(runId).filter((pid) => !owned.has(pid));
}

async function expectCandidateGone(o: DrillOutcome): Promise<void> {
  const details = o.record.details as { candidate: { url?: string } };
  expect(details.candidate.url, 'the candidate never started').toBeTruthy();
  expect(await isListening(Number(new URL(details.candidate.url!).port)), 'the candidate port still listens').toBe(false);
  await expect.poll(strayProcesses, { timeout: 3000 }).toEqual([]);
}

function log(o: DrillOutcome, dir: string): { timeline: Array<{ event: string }>; decision: string } {
  expect(o.record.files).toEqual(['drills/rollback/canary-log.json']);
  return JSON.parse(readFileSync(join(out, 'drills', dir, 'canary-log.json'), 'utf8'));
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'bw-canary-'));
  resolved = resolveConfig(config, join(ROOT, 'breakwater.config.ts'));
  stack = await startLocalStack(resolved.target.stack, { runId, outDir: out, rootDir: ROOT });
  world = await resolved.target.seed({ baseUrl: stack.info.baseUrl, runId, secret: (v) => redactor.add(v) });
}, 120_000);

afterAll(async () => {
  const info = stack?.info;
  await stack?.stop();
  if (info) await expectNothingLeft(runId, info);
  if (leftInstance) {
    expect(leftInstance.running(), 'an instance outlived the stack').toBe(false);
    expect(await isListening(leftInstance.port), 'an instance port outlived the stack').toBe(false);
  }
  rmSync(out, { recursive: true, force: true });
});

describe('canary and rollback rehearsal', () => {
  test('a clean candidate is promoted, verified at 100%, and the stack handed back to its baseline', async () => {
    const o = await runCanaryDrill(shortDrill, context('clean'));
    const d = o.record.details as { decision: string; reasons: string[]; promote: { ok: boolean; newConnections: number }; rollback: { kind: string; ok: boolean } };
    expect(o.record.status, o.record.summary).toBe('passed');
    expect(d.decision, d.reasons.join('; ')).toBe('promote');
    expect(d.promote.ok).toBe(true);
    expect(d.promote.newConnections).toBeGreaterThan(0);
    expect(d.rollback).toMatchObject({ kind: 'restore-after-promote', ok: true });
    expect(o.record.figures.decisionMs).toBeGreaterThanOrEqual(8000);
    expect(o.record.figures.candidateRequests).toBeGreaterThanOrEqual(20);
    expect(o.record.figures.canaryShare).toBeGreaterThan(0.05);
    expect(o.record.figures.canaryShare).toBeLessThan(0.6);
    expect(o.record.figures.boundaryViolations).toBe(0);
    expect(o.record.figures.lostWrites).toBe(0);
    expect(o.findings).toEqual([]);
    expect(o.measurements.find((m) => m.slo === 'rollback-time')).toBeUndefined();
    expect(o.check).toMatchObject({ name: 'drill > rollback', suite: 'scenarios/drills/rollback.ts', state: 'passed', findings: 0 });
    expect(log(o, 'clean').timeline.map((e) => e.event)).toEqual(expect.arrayContaining(['candidate-started', 'canary-routed', 'decision', 'promote-verified', 'baseline-restored', 'integrity-checked']));
    await expectCandidateGone(o);
  });

  test('a candidate that reads across tenants is rolled back; every acknowledged write survives', async () => {
    const o = await runCanaryDrill(rollbackDrill, context('flawed', { CANDIDATE_FLAWS: 'channel-read-cross-tenant' }));
    const d = o.record.details as { decision: string; reasons: string[]; rollback: { kind: string; ok: boolean; drainedConnections: number }; integrity: { acked: number; lost: number }; boundary: { violations: Array<{ boundary: string }> } };
    expect(o.record.status, o.record.summary).toBe('passed');
    expect(d.decision).toBe('rollback');
    expect(d.reasons.join('; ')).toMatch(/cross-tenant/);
    expect(d.boundary.violations.some((v) => v.boundary === 'cross-tenant')).toBe(true);
    expect(o.record.figures.boundaryViolations).toBeGreaterThan(0);
    // Decided on the broken boundary, well before the 15 s evaluation ran out.
    expect(o.record.figures.decisionMs).toBeLessThan(15_000);
    expect(o.record.figures.rollbackMs).toBeGreaterThan(0);
    expect(o.record.figures.rollbackMs).toBeLessThan(10_000);
    expect(d.rollback).toMatchObject({ kind: 'rollback', ok: true });
    expect(d.integrity.acked).toBeGreaterThan(0);
    expect(d.integrity.lost).toBe(0);
    expect(o.measurements).toEqual([{ slo: 'rollback-time', value: o.record.figures.rollbackMs, unit: 'ms', objective: 10_000, pass: true, window: 'rollback:canary' }]);
    // A rehearsal whose rollback worked passes, and reports no finding against the stack it left serving.
    expect(o.findings).toEqual([]);
    expect(o.check.state).toBe('passed');
    expect(log(o, 'flawed').timeline.map((e) => e.event)).toEqual(expect.arrayContaining(['boundary-checked', 'decision', 'rolled-back', 'integrity-checked']));
    await expectCandidateGone(o);
  });

  test('a flawed candidate the canary cannot see is promoted, and the rehearsal fails with a critical finding', async () => {
    // no-redis-reconnect only shows after a Redis outage, which this canary does not cause.
    const o = await runCanaryDrill(shortDrill, context('missed', { CANDIDATE_FLAWS: 'no-redis-reconnect' }));
    expect((o.record.details as { decision: string }).decision).toBe('promote');
    expect(o.record.status).toBe('failed');
    expect(o.record.summary).toMatch(/EXPECTED ROLLBACK/);
    expect(o.check.state).toBe('failed');
    expect(o.findings.map((f) => [f.check, f.severity])).toContainEqual(['drill.canary-missed', 'critical']);
    await expectCandidateGone(o);
  });

  test('an interrupt at any moment leaves no candidate, router or k6 behind, and no partial log', async () => {
    // During the baseline, around the candidate's start, and during the evaluation.
    for (const [i, at] of [400, 3600, 7000].entries()) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), at);
      const o = await runCanaryDrill(shortDrill, { ...context(`interrupt-${i}`), signal: ac.signal });
      clearTimeout(timer);
      const where = `interrupt at ${at} ms: ${o.record.summary}`;
      expect(o.record.status, where).toBe('aborted');
      expect(o.record.summary, where).toBe('aborted: interrupted');
      expect(o.check.state, where).toBe('failed');
      const d = o.record.details as { router?: { url: string }; candidate: { url?: string } };
      expect(d.router?.url, where).toBeTruthy();
      expect(await isListening(Number(new URL(d.router!.url).port)), `${where}: the router still listens`).toBe(false);
      if (d.candidate.url) expect(await isListening(Number(new URL(d.candidate.url).port)), `${where}: the candidate still listens`).toBe(false);
      await expect.poll(strayProcesses, { timeout: 3000, message: where }).toEqual([]);
      expect(existsSync(join(out, 'drills', `interrupt-${i}`, 'canary-log.json')), where).toBe(false);
    }
  });

  test('a stack that cannot start a second instance skips the drill in one line', async () => {
    const attachLike = { ...stack, info: { ...stack.info, provider: 'attach' as const }, processes: undefined } as unknown as StartedStack;
    const o = await runCanaryDrill(rollbackDrill, { ...context('skipped'), stack: attachLike });
    expect(o.check.state).toBe('skipped');
    expect(o.record.status).toBe('aborted');
    expect(o.check.error).toMatch(/^drill rollback cannot run: the attach provider cannot start a second instance of "app"/);
    expect(o.check.error).not.toContain('\n');
    expect(existsSync(join(out, 'drills', 'skipped', 'canary-log.json'))).toBe(false);
  });

  test("an instance shares the stack's links and secrets, refuses a taken name, and the stack's stop() stops it", async () => {
    const start = stack.processes!.startInstance!;
    await expect(start('postgres', { name: 'pg-extra' })).rejects.toThrow(/^cannot start an instance of "postgres": only process services/);
    await expect(start('app', { name: 'redis' })).rejects.toThrow(/^instance name "redis" is taken or invalid/);
    const inst = await start('app', { name: 'app-extra', env: { LOG_LEVEL: 'warn' } });
    leftInstance = inst;
    expect(processesOfStack(runId)).toContain(inst.pid);
    await expect(start('app', { name: 'app-extra' })).rejects.toThrow(/is taken/);
    // A token the baseline issued works on the instance: the same JWT secret, and the same database behind the same link.
    const cred = await context('instance').login('acmeOwner');
    const res = await fetch(`${inst.url}/me`, { headers: cred.headers });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { userId: string }).userId).toBe(cred.subjectId);
    expect(inst.url).not.toBe(stack.info.baseUrl);
  });
});
