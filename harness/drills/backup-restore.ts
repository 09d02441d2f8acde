import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spanMs } from '../config/scenario.ts';
import type { PostgresService, ProcessService, Severity, TargetProfile } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import { harnessLoad } from '../load/harness-load.ts';
import { runK6, type K6Run } from '../load/k6-runner.ts';
import { checkNothingLost, IntegrityWriters, type IntegrityReport, type WriteLog, type WriteRecord } from '../probes/integrity.ts';
import { ReadinessProbe, type ReadinessSample } from '../probes/readiness.ts';
import { findingReporter } from '../run/finding-reporter.ts';
import type { CheckResult, Finding, Measurement } from '../run/result.ts';
import type { StartedStack } from '../stack/types.ts';
import { destroyDataDir, dropDatabase, dumpDatabase, localDataDir, recreateCluster, reopenIfPresent, restoreDatabase } from './pg-backup.ts';
import { requirePgTools, type PgServer } from './pg-tools.ts';
import type { BackupRestoreDrill, DrillOutcome, DrillRecord, DrillRunner } from './types.ts';

const DEFAULT_SEVERITY: Record<string, Severity> = {
  'drill.restore-lost-backed-up-write': 'critical',
  'drill.lost-write': 'critical',
  'drill.wrong-channel': 'critical',
  'drill.duplicate-write': 'high',
  'drill.rto-exceeded': 'high',
  'drill.rpo-exceeded': 'high',
  'drill.not-recovered': 'high',
};

/** Writes go on this long after recovery, so that the restored database is seen keeping new writes too. */
const AFTER_MS = 1_000;
/** Readiness is polled this often: the RTO's resolution. */
const READINESS_EVERY_MS = 100;
/** Bound of each pg_dump, pg_restore and psql step. */
const STEP_TIMEOUT_MS = 120_000;
/** How long the service has to come back after the restore before it counts as not recovered (at least twice the RTO objective). */
const MIN_RECOVERY_WAIT_MS = 30_000;
/** Writes kept in restore-log.json; the counts always cover all of them. */
const MAX_LOGGED_WRITES = 20_000;

/** One moment of the drill, on the harness's clock (epoch ms). */
export interface RestoreEvent {
  event: string;
  t: number;
  at: string;
  detail?: string;
}

/** Where the acknowledged writes fall against the backup and the disaster, and what the restore lost of them. */
export interface LossWindow {
  /** Acknowledged before pg_dump started, and missing: the backup or the restore lost data it should hold. */
  backedUpLost: WriteRecord[];
  /** Acknowledged from the backup's start to the end of the disaster, and missing: the loss a logical backup accepts. */
  windowLost: WriteRecord[];
  /** Acknowledged after the disaster, and missing: lost by the restored service itself. */
  afterLost: WriteRecord[];
  acked: { beforeBackup: number; inWindow: number; afterDisaster: number };
  /** The newest acknowledged write that survived, among those acknowledged before the disaster ended: where the backup's data ends. */
  newestSurvivorAckedAt?: number;
  /** The newest acknowledged write lost in the window. */
  newestLostAckedAt?: number;
  /**
   * The RPO: the span of acknowledged writes the restore lost, from the newest
   * surviving write acknowledged before the disaster (the backup's start when
   * none) to the newest lost one. 0 when nothing was lost.
   */
  rpoMs: number;
}

/**
 * Places every acknowledged write of a log against the backup and the
 * disaster, given which of them the checker found missing. Pure: the drill
 * calls it with the nothing-lost report; tests call it with made-up logs.
 */
export function lossWindow(writes: WriteRecord[], lost: Iterable<string>, at: { backupStartedAt: number; disasterDoneAt: number }): LossWindow {
  const missing = new Set(lost);
  const out: LossWindow = { backedUpLost: [], windowLost: [], afterLost: [], acked: { beforeBackup: 0, inWindow: 0, afterDisaster: 0 }, rpoMs: 0 };
  for (const w of writes) {
    if (w.outcome !== 'acked' || w.ackedAt === undefined) continue;
    const phase = w.ackedAt < at.backupStartedAt ? 'beforeBackup' : w.ackedAt <= at.disasterDoneAt ? 'inWindow' : 'afterDisaster';
    out.acked[phase]++;
    if (missing.has(w.marker)) {
      (phase === 'beforeBackup' ? out.backedUpLost : phase === 'inWindow' ? out.windowLost : out.afterLost).push(w);
    } else if (phase !== 'afterDisaster') {
      out.newestSurvivorAckedAt = Math.max(out.newestSurvivorAckedAt ?? 0, w.ackedAt);
    }
  }
  for (const w of out.windowLost) out.newestLostAckedAt = Math.max(out.newestLostAckedAt ?? 0, w.ackedAt!);
  if (out.newestLostAckedAt !== undefined) out.rpoMs = Math.max(0, out.newestLostAckedAt - (out.newestSurvivorAckedAt ?? at.backupStartedAt));
  return out;
}

/**
 * The backup-and-restore drill. Under load and with integrity writers
 * running: `pg_dump -Fc` of the profile's database, straight to the Postgres
 * port; then the disaster (the database dropped with its sessions
 * terminated, or Postgres killed and its data directory deleted); then the
 * restore (a fresh cluster if needed, the dump restored into a staging
 * database and renamed into place). The app is never restarted: its pool
 * must reconnect by itself, and a service that does not come back is a
 * finding (`drill.not-recovered`), not something the drill papers over.
 *
 * RTO: from the moment the service lost its database (its sessions
 * terminated, by the server's clock; Postgres killed) until the entry
 * service's readiness answers 200 again and a write sent after the disaster
 * is acknowledged. The time spent spawning psql or checkpointing for the
 * DROP while clients still had the database is not downtime and not counted.
 * RPO: see `lossWindow`. Every write acknowledged before the backup started
 * must be in the restored database. Both are judged against the profile's
 * `recovery` objectives. Everything it starts (load, writers, the probe, the
 * dump file) is stopped or removed on every way out, including an abort; an
 * interrupted drill leaves a dropped database to the stack's teardown.
 */
export const runBackupRestoreDrill: DrillRunner<BackupRestoreDrill> = async (drill, ctx) => {
  const started = Date.now();
  const profile = ctx.config.target;
  const disaster = drill.disaster ?? 'drop-database';
  const beforeMs = spanOf(drill.before ?? '5s', 'before', drill.name);
  const betweenMs = spanOf(drill.between ?? '5s', 'between', drill.name);
  const pg = postgresOf(profile, ctx.stack, drill.name);
  const tools = requirePgTools();
  if (!profile.integrity) {
    throw new BreakwaterError('BW_PROFILE_INVALID', `drill ${drill.name}: profile ${profile.name} declares no integrity; add integrity (channels, http or realtime, history) so that lost writes (the RPO) can be measured`);
  }
  if (disaster === 'destroy-data-dir' && !ctx.stack.processes) {
    throw new BreakwaterError('BW_USAGE', `drill ${drill.name}: disaster "destroy-data-dir" needs a provider that owns the Postgres process (local); this stack is provider ${ctx.stack.info.provider}: use disaster "drop-database"`);
  }
  const dataDir = disaster === 'destroy-data-dir' ? localDataDir(ctx.stack.info, pg.service) : undefined;
  const objectives = profile.recovery ? { rtoMs: spanMs(profile.recovery.rto)!, rpoMs: spanMs(profile.recovery.rpo)! } : undefined;
  const entry = profile.stack.links.find((l) => l.name === profile.stack.entry)!;
  const app = profile.stack.services[entry.to] as ProcessService;

  mkdirSync(ctx.outDir, { recursive: true });
  const timeline: RestoreEvent[] = [];
  const mark = (event: string, detail?: string, t = Date.now()): number => {
    timeline.push({ event, t, at: new Date(t).toISOString(), ...(detail ? { detail } : {}) });
    ctx.onStep?.(`drill ${drill.name}: ${event}${detail ? ` (${detail})` : ''}`);
    return t;
  };
  const reasons: string[] = [];
  let aborted = false;

  const ac = new AbortController();
  const onAbort = () => ac.abort();
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal?.aborted) ac.abort();

  const readiness = new ReadinessProbe(new URL(app.health.path, ctx.stack.info.baseUrl).href, READINESS_EVERY_MS);
  const writers = new IntegrityWriters({ profile, world: ctx.world, baseUrl: ctx.stack.info.baseUrl, runId: `${ctx.runId}-${drill.name}`, login: (p) => ctx.login(p), signal: ac.signal });
  const recoveryWaitMs = Math.max(MIN_RECOVERY_WAIT_MS, 2 * (objectives?.rtoMs ?? 0));

  let k6: K6Run | undefined;
  let k6Error: unknown;
  /** The load ended before the drill stopped it (it ran its duration, hit its time bound or failed). */
  let k6EndedAlone = false;
  let k6p: Promise<unknown> | undefined;
  let dumpDir: string | undefined;
  let dumpFile: string | undefined;
  let backupStartedAt: number | undefined;
  let backupBytes: number | undefined;
  let backupMs: number | undefined;
  let disasterAt: number | undefined;
  /** When the service lost its database: the RTO's start. */
  let cutAt: number | undefined;
  let disasterDoneAt: number | undefined;
  let clusterUp = true;
  let restored = false;
  let restoreMs: number | undefined;
  let recovered: Recovery | undefined;
  let writeLog: WriteLog | undefined;

  /** The drill is a rehearsal under load: a load that has already ended (its setup aborted, k6 failed) stops it. */
  const loadStillRunning = (before: string) => {
    if (k6Error) throw k6Error;
    if (k6) throw new BreakwaterError('BW_STACK_FAULT', `the load ${drill.load!.script} ended before ${before} (${k6.abortReason ?? `k6 exit ${k6.exitCodes.join(', ')}`}); see ${join(ctx.outDir, 'k6-0.log')}`);
  };

  try {
    mark('start', `disaster ${disaster}, ${beforeMs / 1000} s before the backup, ${betweenMs / 1000} s between the backup and the disaster`);
    readiness.start();
    await writers.start();
    mark('writers started');
    if (drill.load) {
      const loadMs = beforeMs + betweenMs + 3 * STEP_TIMEOUT_MS + recoveryWaitMs + AFTER_MS;
      k6p = runK6(
        harnessLoad({
          rootDir: ctx.config.rootDir,
          load: drill.load,
          baseUrl: ctx.stack.info.baseUrl,
          realtimePath: profile.realtime?.path,
          runId: ctx.stack.info.runId,
          durationMs: loadMs,
          workDir: ctx.outDir,
          // Stopped once the drill is over (or by the run's abort): the duration above is only an upper bound.
          signal: ac.signal,
          timeoutMs: loadMs + 60_000,
        }),
      ).then(
        (r) => {
          k6 = r;
          k6EndedAlone = !ac.signal.aborted;
        },
        (err) => {
          k6Error = err;
        },
      );
      mark('load started', drill.load.script);
    }

    await sleep(beforeMs, undefined, { signal: ac.signal });
    loadStillRunning('the backup');

    dumpDir = mkdtempSync(join(tmpdir(), `bw-backup-${ctx.runId.replace(/[^A-Za-z0-9_-]/g, '')}-`));
    dumpFile = join(dumpDir, `${pg.database}.dump`);
    backupStartedAt = mark('backup started', `pg_dump -Fc of "${pg.database}" on 127.0.0.1:${pg.server.port}`);
    backupBytes = await dumpDatabase(tools, pg.server, pg.database, dumpFile, { signal: ac.signal, timeoutMs: STEP_TIMEOUT_MS });
    backupMs = mark('backup finished', `${backupBytes} bytes`) - backupStartedAt;

    await sleep(betweenMs, undefined, { signal: ac.signal });
    loadStillRunning('the disaster');

    disasterAt = mark('disaster started', disaster);
    if (disaster === 'drop-database') {
      const dropped = await dropDatabase(tools, pg.server, pg.database, { signal: ac.signal, timeoutMs: STEP_TIMEOUT_MS });
      // Spawning psql and the DROP's checkpoint take a while; clients lost the database at the terminations.
      cutAt = mark('sessions terminated', `${dropped.terminated} session(s), new connections refused (server clock)`, dropped.cutAt);
      disasterDoneAt = mark('database dropped');
    } else {
      clusterUp = false;
      cutAt = disasterAt;
      await destroyDataDir(ctx.stack.processes!, pg.service, dataDir!.dataDir);
      disasterDoneAt = mark('data directory destroyed', `${pg.service} killed, ${dataDir!.dataDir} deleted`);
    }

    const restoreStartedAt = mark('restore started');
    if (!clusterUp) {
      await recreateCluster(tools, ctx.stack.processes!, pg.service, dataDir!, { signal: ac.signal, timeoutMs: STEP_TIMEOUT_MS });
      clusterUp = true;
      mark('cluster recreated', `initdb, ${pg.service} started again on port ${pg.server.port}`);
    }
    const { staging } = await restoreDatabase(tools, pg.server, pg.database, dumpFile, { signal: ac.signal, timeoutMs: STEP_TIMEOUT_MS });
    restored = true;
    restoreMs = mark('restore finished', `pg_restore into "${staging}", renamed to "${pg.database}"`) - restoreStartedAt;

    recovered = await waitRecovered(readiness, writers, disasterDoneAt, Date.now() + recoveryWaitMs, ac.signal);
    if (recovered) {
      mark('ready again', `${app.health.path} answered 200`, recovered.readyAt);
      mark('write acknowledged', 'a write sent after the disaster', recovered.writeAt);
      mark('recovered', undefined, recovered.at);
      await sleep(AFTER_MS, undefined, { signal: ac.signal });
    } else {
      mark('not recovered', `not ready with a write acknowledged within ${Math.round(recoveryWaitMs / 1000)} s of the restore`);
      reasons.push(`the service did not come back by itself within ${Math.round(recoveryWaitMs / 1000)} s of the restore`);
      // Cleanup, not part of the runbook: a restarted app lets the checker read what survived and leaves the stack usable.
      if (ctx.stack.processes) {
        await ctx.stack.processes.restart(entry.to);
        mark('entry service restarted by the drill\'s cleanup', entry.to);
      }
    }
  } catch (err) {
    aborted = true;
    reasons.push(ctx.signal?.aborted ? 'interrupted' : ctx.redactor.redact(oneLine(err)));
  } finally {
    ac.abort();
    ctx.signal?.removeEventListener('abort', onAbort);
    // A disaster without a finished restore is rolled back from the dump so the stack stays usable; an interrupt leaves it to the stack's teardown.
    if (disasterAt !== undefined && !restored && dumpFile && !ctx.signal?.aborted) {
      try {
        const step = { signal: ctx.signal, timeoutMs: STEP_TIMEOUT_MS };
        if (!clusterUp) {
          rmSync(dataDir!.dataDir, { recursive: true, force: true });
          await recreateCluster(tools, ctx.stack.processes!, pg.service, dataDir!, step);
        }
        if (clusterUp && (await reopenIfPresent(tools, pg.server, pg.database, step))) {
          mark('rolled back', 'the drop did not finish; connections allowed again');
        } else {
          await restoreDatabase(tools, pg.server, pg.database, dumpFile, step);
          mark('rolled back', 'restored from the dump after the drill failed');
        }
      } catch (err) {
        reasons.push(`rollback failed, the database is not restored: ${ctx.redactor.redact(oneLine(err))}`);
      }
    }
    await readiness.stop();
    writeLog = await writers.stop().catch(() => undefined);
    await k6p;
    if (dumpDir) rmSync(dumpDir, { recursive: true, force: true });
  }

  const interrupted = !!ctx.signal?.aborted;
  const measurements: Measurement[] = [];
  const figures: Record<string, number> = {};
  const { findings, report } = findingReporter({ profile, suite: 'drill', scope: drill.name, command: `npx breakwater run --tier drill --drill ${drill.name}`, redactor: ctx.redactor, defaults: DEFAULT_SEVERITY });

  let integrity: IntegrityReport | undefined;
  let loss: LossWindow | undefined;
  let rtoMs: number | undefined;
  if (!aborted && !interrupted && writeLog && backupStartedAt !== undefined && disasterAt !== undefined && disasterDoneAt !== undefined) {
    try {
      integrity = await checkNothingLost({ profile, world: ctx.world, baseUrl: ctx.stack.info.baseUrl, login: (p) => ctx.login(p), log: writeLog });
    } catch (err) {
      aborted = true;
      reasons.push(`the nothing-lost check could not read the channels: ${ctx.redactor.redact(oneLine(err))}`);
    }
  }
  if (integrity && writeLog) {
    loss = lossWindow(writeLog.writes, integrity.lost.map((w) => w.marker), { backupStartedAt: backupStartedAt!, disasterDoneAt: disasterDoneAt! });
    const sample = (ws: WriteRecord[]) => ws.slice(0, 3).map((w) => `${w.marker} acked ${iso(w.ackedAt!)}`).join(', ');
    if (loss.backedUpLost.length) {
      report(
        'drill.restore-lost-backed-up-write',
        'backed-up-writes',
        `${loss.backedUpLost.length} write(s) acknowledged before the backup are missing after the restore`,
        `${loss.backedUpLost.length} of ${loss.acked.beforeBackup} writes acknowledged before pg_dump started (${iso(backupStartedAt!)}) are missing (e.g. ${sample(loss.backedUpLost)})`,
        'every write acknowledged before the backup started is in the restored database',
      );
    }
    if (loss.afterLost.length) {
      report(
        'drill.lost-write',
        'after-restore',
        `${loss.afterLost.length} write(s) acknowledged after the disaster are missing`,
        `${loss.afterLost.length} of ${loss.acked.afterDisaster} writes acknowledged after the disaster ended (${iso(disasterDoneAt!)}) are missing (e.g. ${sample(loss.afterLost)})`,
        'every write the restored service acknowledges is kept',
      );
    }
    if (integrity.duplicates.length) {
      report('drill.duplicate-write', 'duplicates', `${integrity.duplicates.length} write(s) stored more than once`, `e.g. ${integrity.duplicates.slice(0, 3).map((d) => `${d.marker} ×${d.count} in ${d.channel}`).join(', ')}`, 'a retried write with the same idempotency key is stored once, also across a restore');
    }
    if (integrity.wrongChannel.length) {
      report('drill.wrong-channel', 'wrong-channel', `${integrity.wrongChannel.length} write(s) found in the wrong channel`, `e.g. ${integrity.wrongChannel.slice(0, 3).map((w) => `${w.marker}: written to ${w.wrote}, found in ${w.found}`).join(', ')}`, 'a write appears only in the channel it was written to');
    }
    figures.lostWrites = integrity.lost.length;
    figures.ackedWrites = integrity.writes.acked;
    figures.rpoMs = loss.rpoMs;
  }
  if (!aborted && !interrupted && cutAt !== undefined) {
    const bound = recoveryWaitMs;
    rtoMs = recovered ? recovered.at - cutAt : undefined;
    figures.rtoMs = rtoMs ?? bound;
    if (!recovered) {
      report(
        'drill.not-recovered',
        'recovery',
        `the service did not come back by itself after the restore`,
        `readiness last ${readiness.last()?.ok ? 'ready' : 'not ready'}, ${recoveredWrites(writers, disasterDoneAt!)} write(s) sent after the disaster acknowledged, ${Math.round(bound / 1000)} s after the restore finished`,
        `${app.health.path} answers 200 and writes are acknowledged once the database is restored, without restarting the app`,
      );
    }
    if (objectives) {
      const rtoValue = rtoMs ?? Math.max(bound, Date.now() - cutAt);
      const rtoPass = rtoMs !== undefined && rtoMs <= objectives.rtoMs;
      measurements.push({ slo: 'rto', value: rtoValue, unit: 'ms', objective: objectives.rtoMs, pass: rtoPass, window: `${drill.name}:restore` });
      if (!rtoPass) {
        report('drill.rto-exceeded', 'rto', `recovery took longer than the RTO objective`, rtoMs !== undefined ? `RTO ${rtoMs} ms from the loss of the database until ready with a write acknowledged` : `not recovered ${rtoValue} ms after the loss of the database`, `at most ${objectives.rtoMs} ms (profile.recovery.rto)`);
      }
      if (loss) {
        const rpoPass = loss.rpoMs <= objectives.rpoMs;
        measurements.push({ slo: 'rpo', value: loss.rpoMs, unit: 'ms', objective: objectives.rpoMs, pass: rpoPass, window: `${drill.name}:restore` });
        if (!rpoPass) {
          report('drill.rpo-exceeded', 'rpo', `the restore lost more acknowledged writes than the RPO objective allows`, `RPO ${loss.rpoMs} ms: ${loss.windowLost.length} acknowledged write(s) lost, the newest acknowledged ${loss.newestLostAckedAt! - backupStartedAt!} ms after the backup started`, `at most ${objectives.rpoMs} ms (profile.recovery.rpo)`);
        }
      }
    }
  }
  if (backupBytes !== undefined) figures.backupBytes = backupBytes;
  if (backupMs !== undefined) figures.backupMs = backupMs;
  if (restoreMs !== undefined) figures.restoreMs = restoreMs;
  if (interrupted && !reasons.includes('interrupted')) reasons.push('interrupted');

  const status: DrillRecord['status'] = aborted || interrupted ? 'aborted' : findings.length || reasons.length ? 'failed' : 'passed';
  const finishedAt = Date.now();
  mark('finished', status, finishedAt);
  timeline.sort((a, b) => a.t - b.t);

  const summary = summarize(status, reasons, figures, objectives, loss);
  const lostList = (loss ? [...loss.backedUpLost, ...loss.windowLost, ...loss.afterLost] : []).map((w) => ({ marker: w.marker, channel: w.channel, via: w.via, sentAt: w.sentAt, ackedAt: w.ackedAt! }));
  const rpoDefinition = 'from the newest acknowledged write that survived (among those acknowledged before the disaster ended; the backup start when none) to the newest acknowledged write that was lost; 0 when nothing was lost';
  const log = {
    drill: drill.name,
    kind: drill.kind,
    status,
    reasons,
    disaster,
    postgres: { service: pg.service, database: pg.database, host: pg.server.host, port: pg.server.port },
    timeline,
    backup: { format: 'custom (pg_dump -Fc)', bytes: backupBytes, ms: backupMs },
    restore: { method: 'pg_restore into a staging database, then renamed into place; the app is not restarted', ms: restoreMs },
    rto: {
      ms: rtoMs,
      objectiveMs: objectives?.rtoMs,
      definition: `from the moment the service lost its database (sessions terminated, or Postgres killed) until ${app.health.path} answers 200 and a write sent after the disaster is acknowledged`,
      from: cutAt,
      readyAt: recovered?.readyAt,
      writeAckedAt: recovered?.writeAt,
    },
    rpo: { ms: loss?.rpoMs, objectiveMs: objectives?.rpoMs, definition: rpoDefinition, newestSurvivorAckedAt: loss?.newestSurvivorAckedAt, newestLostAckedAt: loss?.newestLostAckedAt },
    writes: writeLog && {
      total: writeLog.writes.length,
      ...(integrity ? { outcomes: integrity.writes, duplicates: integrity.duplicates, wrongChannel: integrity.wrongChannel } : {}),
      ...(loss ? { acked: loss.acked, lost: { total: lostList.length, backedUp: loss.backedUpLost.length, inWindow: loss.windowLost.length, afterDisaster: loss.afterLost.length } } : {}),
      lostWrites: lostList,
      truncated: writeLog.writes.length > MAX_LOGGED_WRITES,
      log: writeLog.writes.slice(0, MAX_LOGGED_WRITES).map((w) => ({ marker: w.marker, channel: w.channel, via: w.via, sentAt: w.sentAt, outcome: w.outcome, ...(w.ackedAt !== undefined ? { ackedAt: w.ackedAt } : {}), attempts: w.attempts, last: w.last })),
    },
    load: drill.load && {
      script: drill.load.script,
      requests: k6?.http.length ?? 0,
      failedRequests: k6 ? Math.round(k6.window(0, Number.MAX_SAFE_INTEGER).errorRate * k6.http.length) : 0,
      ended: k6 ? (k6EndedAlone ? (k6.abortReason ?? 'finished') : 'stopped by the harness at the end of the drill') : k6Error ? ctx.redactor.redact(oneLine(k6Error)) : 'not run',
    },
    findings: findings.map((f) => f.id),
  };
  const files: string[] = [];
  // An interrupted run writes no partial report.
  if (!interrupted) {
    writeFileSync(join(ctx.outDir, 'restore-log.json'), `${JSON.stringify(ctx.redactor.redactDeep(log), null, 2)}\n`);
    files.push(`drills/${drill.name}/restore-log.json`);
  }

  const record: DrillRecord = {
    name: drill.name,
    kind: drill.kind,
    status,
    startedAt: iso(started),
    completedAt: iso(finishedAt),
    summary: ctx.redactor.redact(summary),
    figures,
    details: ctx.redactor.redactDeep({
      disaster,
      database: pg.database,
      timeline,
      rpoDefinition,
      objectives,
      lostWrites: lostList.slice(0, 200),
      lostWritesTotal: lostList.length,
      reasons,
    }),
    files,
  };
  const error = status === 'aborted' ? ctx.redactor.redact(reasons[0] ?? 'aborted') : findings.length === 0 && reasons.length ? ctx.redactor.redact(reasons[0]!) : undefined;
  const check: CheckResult = {
    name: `drill > ${drill.name}`,
    suite: `${ctx.config.drillDir}/${drill.name}.ts`,
    state: status === 'passed' ? 'passed' : 'failed',
    durationMs: finishedAt - started,
    ...(error ? { error } : {}),
    findings: findings.length,
    findingIds: findings.map((f) => f.id),
  };
  return { record, findings, measurements, check } satisfies DrillOutcome;
};

interface Recovery {
  /** When both held: the later of the two moments below. */
  at: number;
  /** First ready answer of the current streak, to a request sent after the disaster. */
  readyAt: number;
  /** First acknowledgement of a write sent after the disaster. */
  writeAt: number;
}

/** Waits until the service is ready again and a write sent after `from` is acknowledged; undefined once `deadline` passes. */
async function waitRecovered(readiness: ReadinessProbe, writers: IntegrityWriters, from: number, deadline: number, signal: AbortSignal): Promise<Recovery | undefined> {
  while (Date.now() < deadline) {
    const readyAt = readyStreakStart(readiness.samples, from);
    const writeAt = firstAckSentAfter(writers, from);
    if (readyAt !== undefined && writeAt !== undefined) return { at: Math.max(readyAt, writeAt), readyAt, writeAt };
    await sleep(50, undefined, { signal });
  }
  return undefined;
}

function readyStreakStart(samples: readonly ReadinessSample[], from: number): number | undefined {
  let at: number | undefined;
  for (const s of samples) {
    if (s.t - s.ms < from) continue;
    if (!s.ok) at = undefined;
    else at ??= s.t;
  }
  return at;
}

function firstAckSentAfter(writers: IntegrityWriters, from: number): number | undefined {
  let first: number | undefined;
  for (const l of writers.latencies()) if (l.ok && l.t - l.ms >= from && (first === undefined || l.t < first)) first = l.t;
  return first;
}

function recoveredWrites(writers: IntegrityWriters, from: number): number {
  return writers.latencies().filter((l) => l.ok && l.t - l.ms >= from).length;
}

/** The profile's Postgres service (the first of kind postgres), its database, and its port on the started stack. */
function postgresOf(profile: TargetProfile, stack: StartedStack, drill: string): { service: string; database: string; server: PgServer } {
  const entry = Object.entries(profile.stack.services).find(([, s]) => s.kind === 'postgres');
  if (!entry) throw new BreakwaterError('BW_PROFILE_INVALID', `drill ${drill}: profile ${profile.name} has no service of kind "postgres" to back up`);
  const [service, def] = entry as [string, PostgresService];
  const port = stack.info.services[service]?.port;
  if (!port) {
    throw new BreakwaterError('BW_USAGE', `drill ${drill}: the ${stack.info.provider} provider exposes no port of service "${service}"; the drill connects to Postgres directly, so run it with the local or compose provider`);
  }
  return { service, database: def.database, server: { host: '127.0.0.1', port, user: 'postgres' } };
}

function spanOf(span: Parameters<typeof spanMs>[0], field: string, drill: string): number {
  const ms = spanMs(span);
  if (ms === undefined) throw new BreakwaterError('BW_CONFIG_INVALID', `drill ${drill}: ${field} is ${JSON.stringify(span)}; it must be a duration: milliseconds, or "300ms", "10s", "2m"`);
  return ms;
}

function summarize(status: DrillRecord['status'], reasons: string[], f: Record<string, number>, objectives: { rtoMs: number; rpoMs: number } | undefined, loss: LossWindow | undefined): string {
  if (status === 'aborted') return `backup and restore did not finish: ${reasons[0] ?? 'aborted'}`;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const obj = (ms: number | undefined) => (ms === undefined ? '' : ` (objective ${s(ms)})`);
  const parts = [
    `RTO ${f.rtoMs !== undefined ? s(f.rtoMs) : '?'}${obj(objectives?.rtoMs)}`,
    `RPO ${f.rpoMs !== undefined ? s(f.rpoMs) : '?'}${obj(objectives?.rpoMs)}`,
    `${f.lostWrites ?? '?'} of ${f.ackedWrites ?? '?'} acknowledged writes lost${loss && !loss.backedUpLost.length && !loss.afterLost.length ? ', all acknowledged after the backup started' : ''}`,
    `backup ${f.backupBytes ?? '?'} bytes in ${f.backupMs ?? '?'} ms, restore ${f.restoreMs ?? '?'} ms`,
  ];
  if (!objectives) parts.push('no recovery objectives declared (profile.recovery)');
  if (status === 'failed' && reasons.length) parts.push(reasons[0]!);
  return parts.join('; ');
}

function iso(t: number): string {
  return new Date(t).toISOString();
}

