import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import config from '../../breakwater.config.ts';
import { resolveConfig, type ResolvedConfig } from '../../harness/config/load-config.ts';
import type { Credentials, PostgresService } from '../../harness/config/target.ts';
import { runBackupRestoreDrill } from '../../harness/drills/backup-restore.ts';
import { defineDrill, type BackupRestoreDrill, type DrillContext, type DrillOutcome } from '../../harness/drills/types.ts';
import { Redactor } from '../../harness/safety/redact.ts';
import { processesOfStack } from '../../harness/stack/managed-process.ts';
import { startLocalStack } from '../../harness/stack/local-provider.ts';
import type { StartedStack } from '../../harness/stack/types.ts';
import type { ChatWorld } from '../../profiles/reference-chat.ts';

/**
 * The backup-and-restore drill against the real reference stack. Its figures
 * are checked against evidence the drill did not produce: the test's own
 * stopwatch on /readyz and on its own writes (RTO), and the database itself,
 * queried directly, against the drill's write log (RPO, lost writes).
 */
const ROOT = join(import.meta.dirname, '../..');
const runId = `drill-br-${process.pid}`;
/** How far the reported RTO may be from the stopwatch's: both poll (100 ms and 50 ms), and the drill starts its clock before the outage shows. */
const RTO_TOLERANCE_MS = 500;

let resolved: ResolvedConfig;
let stack: StartedStack;
let world: ChatWorld;
let out: string;
let database: string;
let port: number;
const logins = new Map<string, Promise<Credentials>>();

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'bw-drill-br-'));
  resolved = resolveConfig(config, join(ROOT, 'breakwater.config.ts'));
  stack = await startLocalStack(resolved.target.stack, { runId, outDir: out, rootDir: ROOT });
  world = await resolved.target.seed({ baseUrl: stack.info.baseUrl, runId, secret: () => {} });
  database = (resolved.target.stack.services.postgres as PostgresService).database;
  port = stack.info.services.postgres!.port!;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (out) rmSync(out, { recursive: true, force: true });
});

function login(p: string): Promise<Credentials> {
  let c = logins.get(p);
  if (!c) {
    c = resolved.target.principals[p]!.login({ baseUrl: stack.info.baseUrl, world, runId });
    logins.set(p, c);
  }
  return c;
}

function context(name: string, extra: Partial<DrillContext> = {}): DrillContext {
  return { config: resolved, stack, world, runId, outDir: join(out, 'drills', name), redactor: new Redactor([]), login, ...extra };
}

function drill(name: string, over: Partial<BackupRestoreDrill> = {}): BackupRestoreDrill {
  return defineDrill({ name, kind: 'backup-restore', description: 'test', ...over });
}

/** Direct SQL on the stack's Postgres, not through Toxiproxy and not through the drill's psql. */
async function sql<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

async function stored(markers: string[]): Promise<Set<string>> {
  const rows = await sql<{ body: string }>('SELECT body FROM messages WHERE body = ANY($1::text[])', [markers]);
  return new Set(rows.map((r) => r.body));
}

interface LoggedWrite {
  marker: string;
  outcome: 'acked' | 'rejected' | 'indeterminate';
  sentAt: number;
  ackedAt?: number;
}

interface RestoreLog {
  timeline: Array<{ event: string; t: number }>;
  rto: { ms: number; readyAt: number; writeAckedAt: number };
  rpo: { ms: number };
  writes: { log: LoggedWrite[]; lostWrites: Array<{ marker: string; ackedAt: number }>; truncated: boolean };
}

function restoreLog(o: DrillOutcome): RestoreLog {
  expect(o.record.files).toEqual([`drills/${o.record.name}/restore-log.json`]);
  return JSON.parse(readFileSync(join(out, o.record.files![0]!), 'utf8')) as RestoreLog;
}

function at(log: RestoreLog, event: string): number {
  const e = log.timeline.find((x) => x.event === event);
  expect(e, `timeline event "${event}"`).toBeDefined();
  return e!.t;
}

/**
 * The test's own clock on the outage: /readyz polled every 50 ms and a
 * message posted every 100 ms (as a principal the drill's writers do not
 * use), each answer timed when it arrives.
 */
class Stopwatch {
  readonly ready: Array<{ t: number; ok: boolean }> = [];
  readonly writes: Array<{ sentAt: number; t: number; ok: boolean }> = [];
  #stop = false;
  #loops: Promise<void>[] = [];

  start(): void {
    const url = new URL('/readyz', stack.info.baseUrl).href;
    const post = new URL(`/tenants/${world.tenants.acme.id}/channels/${world.channels.acmeGeneral}/messages`, stack.info.baseUrl).href;
    this.#loops.push(
      this.#every(50, async () => {
        const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
          async (r) => (await r.arrayBuffer(), r.status === 200),
          () => false,
        );
        this.ready.push({ t: Date.now(), ok });
      }),
      this.#every(100, async (i) => {
        const cred = await login('acmeAdmin');
        const sentAt = Date.now();
        const ok = await fetch(post, {
          method: 'POST',
          headers: { ...cred.headers, 'content-type': 'application/json' },
          body: JSON.stringify({ body: `stopwatch-${runId}-${i}` }),
          signal: AbortSignal.timeout(2000),
        }).then(
          async (r) => (await r.arrayBuffer(), r.status === 201),
          () => false,
        );
        this.writes.push({ sentAt, t: Date.now(), ok });
      }),
    );
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await Promise.all(this.#loops);
  }

  async #every(ms: number, fn: (i: number) => Promise<void>): Promise<void> {
    // Bounded: at most 10 minutes of polling even if stop() is never called.
    for (let i = 0; i < (10 * 60_000) / ms && !this.#stop; i++) {
      await fn(i);
      await new Promise((r) => setTimeout(r, ms));
    }
  }

  /** From the first failed readiness answer until readiness is back and a write sent after the outage began is acknowledged. */
  outage(): { down: number; up: number; wrote: number; rtoMs: number } {
    const down = this.ready.find((s) => !s.ok)?.t;
    expect(down, 'the stopwatch saw /readyz fail during the drill').toBeDefined();
    const lastFail = this.ready.filter((s) => !s.ok).at(-1)!.t;
    const up = this.ready.find((s) => s.ok && s.t > lastFail)?.t;
    const wrote = this.writes.find((w) => w.ok && w.sentAt >= down!)?.t;
    expect(up, 'the stopwatch saw /readyz come back').toBeDefined();
    expect(wrote, 'the stopwatch saw a write acknowledged after the outage began').toBeDefined();
    return { down: down!, up: up!, wrote: wrote!, rtoMs: Math.max(up!, wrote!) - down! };
  }
}

/**
 * The drill's lost-write list against the database: exactly the acknowledged
 * writes that are not stored, every one of them acknowledged after the
 * backup started (and before the disaster ended); every write acknowledged
 * before the backup is stored. Returns the RPO recomputed from the database.
 */
async function expectLossMatchesDatabase(o: DrillOutcome, log: RestoreLog, disasterDone: string): Promise<{ rpoMs: number; lost: string[] }> {
  expect(log.writes.truncated).toBe(false);
  const acked = log.writes.log.filter((w) => w.outcome === 'acked');
  const present = await stored(acked.map((w) => w.marker));
  const missing = acked.filter((w) => !present.has(w.marker));
  expect(log.writes.lostWrites.map((w) => w.marker).sort()).toEqual(missing.map((w) => w.marker).sort());
  expect(o.record.figures.lostWrites).toBe(missing.length);
  expect(o.record.figures.ackedWrites).toBe(acked.length);

  const backupStarted = at(log, 'backup started');
  const disasterEnded = at(log, disasterDone);
  const before = acked.filter((w) => w.ackedAt! < backupStarted);
  expect(before.length).toBeGreaterThan(10);
  expect(before.filter((w) => !present.has(w.marker))).toEqual([]);
  for (const w of missing) {
    expect(w.ackedAt!).toBeGreaterThanOrEqual(backupStarted);
    expect(w.ackedAt!).toBeLessThanOrEqual(disasterEnded);
  }
  const newestSurvivor = Math.max(...acked.filter((w) => present.has(w.marker) && w.ackedAt! <= disasterEnded).map((w) => w.ackedAt!));
  const newestLost = Math.max(...missing.map((w) => w.ackedAt!));
  return { rpoMs: missing.length ? newestLost - newestSurvivor : 0, lost: missing.map((w) => w.marker) };
}

describe('backup and restore drill', () => {
  test('drop-database under load: RTO matches a stopwatch, the lost writes match the database, nothing backed up is lost', async () => {
    const d = drill('backup-restore', { load: { script: 'scenarios/load/chat-mix.ts', env: { RATE: '10' } }, before: '3s', between: '3s' });
    const watch = new Stopwatch();
    watch.start();
    const t0 = Date.now();
    let o: DrillOutcome;
    try {
      o = await runBackupRestoreDrill(d, context(d.name));
    } finally {
      await watch.stop();
    }
    const t1 = Date.now();

    expect(o.findings).toEqual([]);
    expect(o.record.status, o.record.summary).toBe('passed');
    expect(o.check).toMatchObject({ name: 'drill > backup-restore', suite: 'scenarios/drills/backup-restore.ts', state: 'passed', findings: 0, findingIds: [] });
    const log = restoreLog(o);
    const f = o.record.figures;
    for (const k of ['rtoMs', 'rpoMs', 'lostWrites', 'ackedWrites', 'backupBytes', 'backupMs', 'restoreMs']) expect(f[k], k).toBeGreaterThan(0);

    // RTO: the drill's figure against the test's stopwatch.
    const sw = watch.outage();
    expect(sw.down).toBeGreaterThanOrEqual(at(log, 'disaster started'));
    expect(sw.down - at(log, 'sessions terminated')).toBeLessThan(1000);
    expect(t0).toBeLessThan(sw.down);
    expect(sw.up).toBeLessThan(t1);
    expect(Math.abs(f.rtoMs! - sw.rtoMs), `reported RTO ${f.rtoMs} ms, stopwatch ${sw.rtoMs} ms`).toBeLessThanOrEqual(RTO_TOLERANCE_MS);
    expect(f.rtoMs).toBe(log.rto.ms);
    expect(f.rtoMs).toBe(Math.max(log.rto.readyAt, log.rto.writeAckedAt) - at(log, 'sessions terminated'));
    expect(f.rtoMs).toBeGreaterThanOrEqual(f.restoreMs!);

    // RPO: the lost writes are exactly what the database lacks, all acknowledged after the backup started.
    const db = await expectLossMatchesDatabase(o, log, 'database dropped');
    expect(f.lostWrites).toBeGreaterThan(5);
    expect(f.rpoMs).toBe(db.rpoMs);
    // A logical backup loses about what was acknowledged between its snapshot and the disaster.
    expect(f.rpoMs).toBeGreaterThan(3000 - 500);
    expect(f.rpoMs).toBeLessThan(3000 + f.backupMs! + 1000);

    expect(o.measurements).toEqual([
      { slo: 'rto', value: f.rtoMs, unit: 'ms', objective: 30_000, pass: true, window: 'backup-restore:restore' },
      { slo: 'rpo', value: f.rpoMs, unit: 'ms', objective: 30_000, pass: true, window: 'backup-restore:restore' },
    ]);
    // The load's raw k6 output is scratch: the summary export would carry its tokens into the run dir.
    expect(readdirSync(join(out, 'drills', d.name))).not.toContain('k6-0.summary.json');
  });

  test('destroy-data-dir: a new cluster from initdb, the dump restored into it, backed-up writes all there', async () => {
    const before = (await sql<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'))[0]!.id;
    const pidBefore = stack.info.services.postgres!.pid;
    const d = drill('restore-data-dir', { disaster: 'destroy-data-dir', load: { script: 'scenarios/load/chat-mix.ts', env: { RATE: '10' } }, before: '2s', between: '2s' });

    const o = await runBackupRestoreDrill(d, context(d.name));

    expect(o.findings).toEqual([]);
    expect(o.record.status, o.record.summary).toBe('passed');
    const after = (await sql<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'))[0]!.id;
    expect(after).not.toBe(before);
    expect(stack.info.services.postgres!.pid).not.toBe(pidBefore);
    // The kill was the drill's, not a crash.
    expect(stack.incidents()).toEqual([]);
    const log = restoreLog(o);
    expect(log.timeline.map((e) => e.event)).toEqual(expect.arrayContaining(['data directory destroyed', 'cluster recreated', 'restore finished', 'recovered']));
    const db = await expectLossMatchesDatabase(o, log, 'data directory destroyed');
    expect(db.lost.length).toBeGreaterThan(0);
    expect(o.record.figures.rpoMs).toBe(db.rpoMs);
    expect(o.record.figures.rtoMs).toBeGreaterThanOrEqual(o.record.figures.restoreMs!);
  });

  test('objectives tighter than achievable: drill.rto-exceeded and drill.rpo-exceeded, status failed', async () => {
    const tight: ResolvedConfig = { ...resolved, target: { ...resolved.target, recovery: { rto: '1ms', rpo: '1ms' } } };
    const d = drill('restore-tight', { before: '1s', between: '1s' });

    const o = await runBackupRestoreDrill(d, context(d.name, { config: tight }));

    expect(o.record.status).toBe('failed');
    expect(o.check.state).toBe('failed');
    expect(o.findings.map((x) => [x.check, x.severity]).sort()).toEqual([
      ['drill.rpo-exceeded', 'high'],
      ['drill.rto-exceeded', 'high'],
    ]);
    expect(o.check.findingIds).toEqual(o.findings.map((x) => x.id));
    const f = o.record.figures;
    expect(o.measurements).toEqual([
      { slo: 'rto', value: f.rtoMs, unit: 'ms', objective: 1, pass: false, window: 'restore-tight:restore' },
      { slo: 'rpo', value: f.rpoMs, unit: 'ms', objective: 1, pass: false, window: 'restore-tight:restore' },
    ]);
    expect(o.findings.find((x) => x.check === 'drill.rto-exceeded')!.observed).toBe(`RTO ${f.rtoMs} ms from the loss of the database until ready with a write acknowledged`);
  });

  test('a write acknowledged before the backup and gone from the database: drill.restore-lost-backed-up-write, critical', async () => {
    // The flaw: acknowledged rows vanish before the backup is taken (as a buggy cleanup job would delete them).
    const d = drill('restore-lost', { before: '2500ms', between: '1s' });
    const since = (await sql<{ now: Date }>('SELECT now()'))[0]!.now;
    let deleting: Promise<string[]> | undefined;
    const onStep = (step: string) => {
      if (step.endsWith('writers started')) {
        deleting = new Promise((r) => setTimeout(r, 1200)).then(async () =>
          (
            await sql<{ body: string }>(
              "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE body LIKE 'bw-%' AND created_at >= $1 ORDER BY seq LIMIT 3) RETURNING body",
              [since],
            )
          ).map((r) => r.body),
        );
      }
    };

    const o = await runBackupRestoreDrill(d, context(d.name, { onStep }));
    const deleted = await deleting!;

    expect(deleted).toHaveLength(3);
    expect(o.record.status).toBe('failed');
    const finding = o.findings.find((x) => x.check === 'drill.restore-lost-backed-up-write');
    expect(finding?.severity).toBe('critical');
    expect(finding?.title).toBe('3 write(s) acknowledged before the backup are missing after the restore');
    const log = restoreLog(o);
    const backupStarted = at(log, 'backup started');
    const backedUpLost = log.writes.lostWrites.filter((w) => w.ackedAt < backupStarted).map((w) => w.marker);
    expect(backedUpLost.sort()).toEqual([...deleted].sort());
  });

  test('an abort in the middle stops the load, the writers and the probe, removes the dump, and leaves the database alone', async () => {
    const d = drill('restore-abort', { load: { script: 'scenarios/load/chat-mix.ts', env: { RATE: '10' } }, before: '2s', between: '10s' });
    const ac = new AbortController();
    const t0 = Date.now();

    const o = await runBackupRestoreDrill(d, context(d.name, { signal: ac.signal, onStep: (s) => s.includes('backup finished') && ac.abort() }));

    expect(Date.now() - t0).toBeLessThan(2000 + 10_000);
    expect(o.record.status).toBe('aborted');
    expect(o.check).toMatchObject({ state: 'failed', error: 'interrupted' });
    expect(o.record.files).toEqual([]);
    expect(o.record.figures.backupBytes).toBeGreaterThan(0);
    const k6Left = processesOfStack(stack.info.runId).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'k6';
      } catch {
        return false;
      }
    });
    expect(k6Left).toEqual([]);
    expect(readdirSync(tmpdir()).filter((e) => e.startsWith(`bw-backup-${runId}-`))).toEqual([]);
    const res = await fetch(new URL('/readyz', stack.info.baseUrl));
    expect(res.status).toBe(200);
    expect((await sql<{ n: number }>('SELECT 1 AS n'))[0]!.n).toBe(1);
  });
});
