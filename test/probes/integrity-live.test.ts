import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Credentials } from '../../harness/config/target.ts';
import { checkNothingLost, IntegrityWriters, type IntegrityReport, type WriteLog } from '../../harness/probes/integrity.ts';
import { startLocalStack } from '../../harness/stack/local-provider.ts';
import type { StartedStack } from '../../harness/stack/types.ts';
import referenceChat, { type ChatWorld } from '../../profiles/reference-chat.ts';

/**
 * The nothing-lost probe against the real reference stack: writers through
 * reset_peer bursts, then the checker. The clean target loses nothing; the
 * ack-before-commit flaw loses acknowledged writes under the same faults.
 */

const ROOT = join(import.meta.dirname, '../..');

interface Target {
  stack: StartedStack;
  world: ChatWorld;
  runId: string;
  outDir: string;
  login(principal: string): Promise<Credentials>;
}

async function startTarget(tag: string, flaws: string | undefined): Promise<Target> {
  const runId = `probe-${tag}-${process.pid}`;
  const outDir = mkdtempSync(join(tmpdir(), 'bw-probe-test-'));
  // TARGET_FLAWS from the caller's shell must not leak into the clean stack.
  const stack = await startLocalStack(referenceChat.stack, { runId, outDir, rootDir: ROOT, env: { ...process.env, TARGET_FLAWS: flaws } });
  try {
    const baseUrl = stack.info.baseUrl;
    const world = await referenceChat.seed({ baseUrl, runId, secret: () => {} });
    return { stack, world, runId, outDir, login: (p) => referenceChat.principals[p]!.login({ baseUrl, world, runId }) };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

async function stopTarget(t: Target | undefined): Promise<void> {
  if (!t) return;
  const stopped = await t.stack.stop();
  rmSync(t.outDir, { recursive: true, force: true });
  expect(stopped.teardownErrors).toEqual([]);
}

/**
 * Bursts of reset_peer (toxicity 1, timeout 0) on one link. With `latencyMs`,
 * an upstream latency toxic holds the link's requests in flight for the
 * whole fault window, so that a burst catches writes mid-way. Every toxic is
 * removed on every path.
 */
async function resetBursts(stack: StartedStack, link: string, opts: { bursts: number; burstMs: number; gapMs: number; latencyMs?: number }): Promise<void> {
  const toxi = stack.toxiproxy!;
  const added: string[] = [];
  try {
    if (opts.latencyMs) added.push(await toxi.addToxic(link, 'probe-slow', { type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: opts.latencyMs, jitter: 0 } }));
    for (let i = 0; i < opts.bursts; i++) {
      await sleep(opts.gapMs);
      const name = await toxi.addToxic(link, `probe-reset-${i}`, { type: 'reset_peer', stream: 'downstream', toxicity: 1, attributes: { timeout: 0 } });
      try {
        await sleep(opts.burstMs);
      } finally {
        await toxi.removeToxic(link, name);
      }
    }
  } finally {
    for (const name of added) await toxi.removeToxic(link, name);
  }
}

/** Writers for a baseline second, the faults, then a recovery period; the log and the checker's report. */
async function writeThrough(t: Target, faults: () => Promise<void>): Promise<{ writers: IntegrityWriters; log: WriteLog; report: IntegrityReport; faultsEnd: number }> {
  const baseUrl = t.stack.info.baseUrl;
  const writers = new IntegrityWriters({ profile: referenceChat, world: t.world, baseUrl, runId: t.runId, login: t.login, ratePerSecond: 40 });
  let log: WriteLog;
  let faultsEnd = 0;
  try {
    await writers.start();
    await sleep(1_000);
    await faults();
    faultsEnd = Date.now();
    await sleep(1_500);
  } finally {
    log = await writers.stop();
  }
  const report = await checkNothingLost({ profile: referenceChat, world: t.world, baseUrl, login: t.login, log });
  return { writers, log, report, faultsEnd };
}

const DB_FAULTS = { bursts: 4, burstMs: 300, gapMs: 700, latencyMs: 200 };

describe('a clean reference target', () => {
  let t: Target | undefined;
  beforeAll(async () => {
    t = await startTarget('clean', undefined);
  });
  afterAll(() => stopTarget(t));

  test('loses, duplicates and misdelivers nothing through reset_peer bursts on app→postgres', async () => {
    const { writers, log, report } = await writeThrough(t!, () => resetBursts(t!.stack, 'app-postgres', DB_FAULTS));

    expect(report.writes.acked).toBeGreaterThan(100);
    expect(report).toMatchObject({ lost: [], duplicates: [], wrongChannel: [], ok: true });
    // Both transports and both channels were written, and the faults bit: some attempts were refused or unanswered.
    expect(new Set(log.writes.map((w) => `${w.via}:${w.channel}`))).toEqual(new Set(['http:acme-general', 'http:acme-secret', 'ws:acme-general', 'ws:acme-secret']));
    expect(log.writes.some((w) => w.attempts > 1 || w.outcome !== 'acked')).toBe(true);
    // The probe's own accounting agrees with the log.
    const stats = writers.stats();
    expect({ acked: stats.acked, rejected: stats.rejected, indeterminate: stats.indeterminate }).toEqual({ acked: report.writes.acked, rejected: report.writes.rejected, indeterminate: report.writes.indeterminate });
    expect(stats.inFlight).toBe(0);
    const latencies = writers.latencies();
    expect(latencies).toHaveLength(log.writes.length);
    expect(latencies.filter((l) => l.ok)).toHaveLength(report.writes.acked);
    expect(latencies.every((l) => l.ms >= 0 && l.t >= log.startedAt && l.t <= log.stoppedAt)).toBe(true);
    expect(await t!.stack.toxiproxy!.leftovers()).toEqual({ toxics: [], disabled: [] });
  });

  test('dropped sockets reconnect, and writes retried with the same key are stored once', async () => {
    const { writers, log, report, faultsEnd } = await writeThrough(t!, () => resetBursts(t!.stack, 'client-app', { bursts: 3, burstMs: 300, gapMs: 700 }));

    const reconnects = writers.reconnects();
    expect(reconnects.successes).toBeGreaterThanOrEqual(2);
    expect(reconnects.attempts).toBeGreaterThanOrEqual(reconnects.successes);
    // Retries happened (unanswered attempts resent), and none of them made a second copy.
    expect(log.writes.some((w) => w.attempts > 1)).toBe(true);
    expect(report).toMatchObject({ lost: [], duplicates: [], wrongChannel: [], ok: true });
    // Writes went on after the last drop: sent after the faults and acknowledged over the socket.
    expect(log.writes.some((w) => w.via === 'ws' && w.outcome === 'acked' && w.sentAt > faultsEnd)).toBe(true);
  });
});

describe('the ack-before-commit flaw', () => {
  let t: Target | undefined;
  beforeAll(async () => {
    t = await startTarget('flawed', 'ack-before-commit');
  });
  afterAll(() => stopTarget(t));

  test('loses acknowledged writes under the same faults, and the checker names them', async () => {
    const { log, report } = await writeThrough(t!, () => resetBursts(t!.stack, 'app-postgres', DB_FAULTS));

    expect(report.ok).toBe(false);
    expect(report.lost.length).toBeGreaterThan(0);
    for (const w of report.lost) {
      expect(w.outcome).toBe('acked');
      expect(log.writes).toContainEqual(w);
    }
    expect(report.duplicates).toEqual([]);
    expect(report.wrongChannel).toEqual([]);
  });
});
