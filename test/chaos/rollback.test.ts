import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import config from '../../breakwater.config.ts';
import { resolveConfig, type ResolvedConfig } from '../../harness/config/load-config.ts';
import { resolveScenario, type ScenarioDefinition } from '../../harness/config/scenario.ts';
import { runScenario } from '../../harness/run/scenario-runner.ts';
import { Redactor } from '../../harness/safety/redact.ts';
import { processesOfStack } from '../../harness/stack/managed-process.ts';
import { startLocalStack } from '../../harness/stack/local-provider.ts';
import type { StartedStack } from '../../harness/stack/types.ts';

/**
 * Interrupting a scenario at any moment must leave no fault behind: no toxic
 * and no disabled link (asked of Toxiproxy's API), no stopped process (asked
 * of ps), and no k6. Every kind of fault overlaps in this scenario, so a
 * random moment catches any mix of them in place.
 */
const ROOT = join(import.meta.dirname, '../..');
const RUNS = 8;

const everyFault: ScenarioDefinition = resolveScenario(
  {
    name: 'rollback-probe',
    description: 'all fault kinds overlapping',
    load: { script: 'scenarios/load/chat-mix.ts', env: { RATE: '10' } },
    baseline: '1s',
    method: [
      { at: 0, for: '4s', fault: { toxic: 'latency', link: '@postgres', attributes: { latency: 100 } } },
      { at: '500ms', for: '3s', fault: { down: '@redis' } },
      { at: '1s', for: '2s', fault: { pause: '@postgres' } },
      { at: '1500ms', for: '2s', fault: { kill: '@app' } },
      { at: '2s', for: '2s', fault: { toxic: 'bandwidth', link: '@entry', stream: 'upstream', attributes: { rate: 8 } } },
    ],
    recovery: { within: '10s' },
    after: '1s',
    integrity: false,
  },
  'test/chaos/rollback.test.ts',
);

let stack: StartedStack;
let resolved: ResolvedConfig;
let world: unknown;
let out: string;
const runId = `rollback-${process.pid}`;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'bw-rollback-'));
  resolved = resolveConfig(config, join(ROOT, 'breakwater.config.ts'));
  stack = await startLocalStack(resolved.target.stack, { runId, outDir: out, rootDir: ROOT });
  world = await resolved.target.seed({ baseUrl: stack.info.baseUrl, runId, secret: () => {} });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(out, { recursive: true, force: true });
});

/** Process states of every process of the stack (postgres backends included), from ps. */
function stoppedProcesses(): string[] {
  const pids = new Set(processesOfStack(runId));
  const ps = execFileSync('ps', ['-eo', 'pid=,stat=,comm='], { encoding: 'utf8' });
  return ps
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([pid, stat]) => pid && pids.has(Number(pid)) && stat?.startsWith('T'))
    .map((f) => f.join(' '));
}

function k6Processes(): string[] {
  const ps = execFileSync('ps', ['-eo', 'pid=,comm='], { encoding: 'utf8' });
  const pids = new Set(processesOfStack(runId));
  return ps.split('\n').filter((l) => /\bk6$/.test(l.trim()) && pids.has(Number(l.trim().split(/\s+/)[0])));
}

test(`${RUNS} interrupts at random moments leave no toxic, disabled link, paused process or k6 behind`, async () => {
  const moments: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Random moments across the whole scenario: load start, every fault, recovery.
    const at = 300 + Math.floor(Math.random() * 6500);
    moments.push(at);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), at);
    const outcome = await runScenario({
      scenario: everyFault,
      source: 'test',
      config: resolved,
      stack,
      world,
      runId,
      outDir: join(out, `run-${i}`),
      redactor: new Redactor([]),
      signal: ac.signal,
    });
    clearTimeout(timer);
    const ctx = `interrupt ${i} at ${at} ms: ${JSON.stringify(outcome.journal.rollbacks)} ${outcome.journal.reasons.join(' | ')}`;
    expect(outcome.journal.status, ctx).toBe('aborted');
    expect(await stack.toxiproxy!.leftovers(), ctx).toEqual({ toxics: [], disabled: [] });
    expect(stoppedProcesses(), ctx).toEqual([]);
    expect(stack.processes!.paused(), ctx).toEqual([]);
    expect(k6Processes(), ctx).toEqual([]);
    // An interrupted run leaves a killed app to the stack's teardown; this test goes on, so it starts it again.
    await stack.processes!.restart('app');
  }
  expect(moments.length).toBe(RUNS);
}, 300_000);
