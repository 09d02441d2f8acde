import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { errorLines, hasStackTrace, spawnCli } from '../helpers/cli.ts';
import { expectNothingLeft } from '../helpers/leftovers.ts';

/**
 * Ctrl-C or a CI cancel can come at any moment: during the stack start, the
 * seeding, the suites or the teardown. Whenever it comes, the run must stop
 * cleanly and leave no process, port or temp dir behind.
 */
async function interruptOnce(signal: 'SIGINT' | 'SIGTERM', delayMs: number, extra: string[] = []): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'bw-sig-out-'));
  const id = `sig-${signal.toLowerCase()}-${randomBytes(3).toString('hex')}`;
  const { child, done } = spawnCli(['run', '--tier', 'pr', '--out', out, ...extra], { env: { BREAKWATER_RUN_ID: id } });
  await new Promise((r) => setTimeout(r, delayMs));
  child.kill(signal);
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const r = await done;
  clearTimeout(killer);
  const context = `${signal} after ${delayMs} ms: exit ${r.code}/${r.signal}\n${r.stderr}`;
  // A signal in Node's own first milliseconds, before any of our code runs, kills by default action: nothing was started yet.
  if (r.code === null && r.signal === signal && r.stderr === '') return expectNothingLeft(id);
  // Otherwise it either finished before the signal (0) or stopped because of it (130 / 143).
  expect([0, signal === 'SIGINT' ? 130 : 143], context).toContain(r.code);
  expect(hasStackTrace(r.stderr), context).toBe(false);
  if (r.code !== 0) {
    expect(errorLines(r.stderr).at(-1) ?? '', context).toMatch(/interrupted; the stack was stopped and nothing was left behind/);
    expect(existsSync(join(out, 'run.json')), 'an interrupted run wrote a report').toBe(false);
  }
  const stackFile = join(out, 'stack.json');
  await expectNothingLeft(id, existsSync(stackFile) ? JSON.parse(readFileSync(stackFile, 'utf8')) : undefined);
}

describe.each(['SIGINT', 'SIGTERM'] as const)('%s at a random moment', (signal) => {
  test('10 interrupted runs leave nothing behind', async () => {
    for (let i = 0; i < 10; i++) await interruptOnce(signal, randomInt(100, 6000));
  }, 300_000);
});

describe('an interrupt during a chaos scenario', () => {
  // The stack is up after ~3 s; the scenario's load, writers and faults run from then on (db-reset-peer lasts ~15 s).
  test('4 runs interrupted at random moments of the scenario stop k6, roll back and leave nothing behind', async () => {
    for (let i = 0; i < 4; i++) await interruptOnce(i % 2 ? 'SIGTERM' : 'SIGINT', randomInt(3500, 15_000), ['--scenario', 'db-reset-peer']);
  }, 300_000);
});
