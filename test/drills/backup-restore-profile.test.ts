import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { resolveTarget } from '../../harness/config/resolve-target.ts';
import { spanMs } from '../../harness/config/scenario.ts';
import { lossWindow } from '../../harness/drills/backup-restore.ts';
import { drillSchema } from '../../harness/drills/load-drills.ts';
import { requirePgTools } from '../../harness/drills/pg-tools.ts';
import { BreakwaterError } from '../../harness/errors.ts';
import type { WriteRecord } from '../../harness/probes/integrity.ts';
import chat from '../../profiles/reference-chat.ts';
import backupRestore from '../../scenarios/drills/backup-restore.ts';

/** The profile's recovery objectives, the RPO arithmetic, and the drill's tool check: no stack needed. */

function invalid(profile: unknown): BreakwaterError {
  let err: unknown;
  try {
    resolveTarget(profile);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(BreakwaterError);
  const e = err as BreakwaterError;
  expect(e.code).toBe('BW_PROFILE_INVALID');
  expect(e.message).not.toContain('\n');
  return e;
}

describe('profile.recovery', () => {
  test('the reference profile declares objectives that resolve', () => {
    expect(resolveTarget(chat)).toBe(chat);
    expect(spanMs(chat.recovery!.rto)).toBe(30_000);
    expect(spanMs(chat.recovery!.rpo)).toBe(30_000);
  });

  test('a profile without objectives is still valid', () => {
    const { recovery: _, ...without } = chat;
    expect(resolveTarget(without)).toBe(without);
  });

  test.each([
    ['a word for a span', { rto: 'soon', rpo: '30s' }, 'profile.recovery.rto', 'must be a duration: milliseconds, or "300ms", "10s", "2m"'],
    ['a negative span', { rto: '30s', rpo: -5 }, 'profile.recovery.rpo', 'must be a duration: milliseconds, or "300ms", "10s", "2m"'],
    ['a zero objective', { rto: '0s', rpo: '30s' }, 'profile.recovery.rto', 'must be more than 0'],
    ['a missing objective', { rto: '30s' }, 'profile.recovery.rpo', 'is required (a duration like "30s")'],
    ['a boolean', { rto: true, rpo: '30s' }, 'profile.recovery.rto', 'must be a duration: milliseconds, or "300ms", "10s", "2m"'],
    ['an unknown field', { rto: '30s', rpo: '30s', mttr: '1h' }, 'profile.recovery', 'unknown field "mttr"'],
  ])('%s gets one line naming the field and the rule', (_, recovery, path, rule) => {
    const e = invalid({ ...chat, recovery });
    expect(e.message).toBe(`invalid target profile ${path}: ${rule}; fix the field and run again`);
  });
});

describe('lossWindow (the RPO)', () => {
  const BACKUP = 10_000;
  const DISASTER_DONE = 15_000;
  let seq = 0;
  const w = (ackedAt: number | undefined, outcome: WriteRecord['outcome'] = 'acked'): WriteRecord => ({
    marker: `bw-t-x-h0-${seq++}`,
    channel: 'c',
    via: 'http',
    sentAt: (ackedAt ?? 20_000) - 5,
    outcome,
    ...(ackedAt !== undefined ? { ackedAt } : {}),
    attempts: 1,
  });

  test('spans from the newest surviving pre-disaster write to the newest lost one', () => {
    const before = [w(9_000), w(9_990)];
    const survivedInWindow = w(10_040);
    const lost = [w(10_100), w(12_000), w(14_950)];
    const after = [w(16_000)];
    const r = lossWindow([...before, survivedInWindow, ...lost, ...after, w(undefined, 'rejected')], lost.map((x) => x.marker), { backupStartedAt: BACKUP, disasterDoneAt: DISASTER_DONE });
    expect(r.rpoMs).toBe(14_950 - 10_040);
    expect(r.newestSurvivorAckedAt).toBe(10_040);
    expect(r.newestLostAckedAt).toBe(14_950);
    expect(r.windowLost).toEqual(lost);
    expect(r.backedUpLost).toEqual([]);
    expect(r.afterLost).toEqual([]);
    expect(r.acked).toEqual({ beforeBackup: 2, inWindow: 4, afterDisaster: 1 });
  });

  test('a write acknowledged before the backup and missing is a backed-up loss, not part of the RPO window', () => {
    const gone = w(5_000);
    const survivor = w(9_500);
    const lost = w(11_000);
    const r = lossWindow([gone, survivor, lost], [gone.marker, lost.marker], { backupStartedAt: BACKUP, disasterDoneAt: DISASTER_DONE });
    expect(r.backedUpLost).toEqual([gone]);
    expect(r.windowLost).toEqual([lost]);
    expect(r.rpoMs).toBe(11_000 - 9_500);
  });

  test('a write acknowledged after the disaster and missing is lost by the restored service', () => {
    const late = w(16_000);
    const r = lossWindow([w(9_000), late], [late.marker], { backupStartedAt: BACKUP, disasterDoneAt: DISASTER_DONE });
    expect(r.afterLost).toEqual([late]);
    expect(r.rpoMs).toBe(0);
  });

  test('nothing lost: RPO 0; no survivor before the disaster: measured from the backup start', () => {
    expect(lossWindow([w(9_000), w(12_000)], [], { backupStartedAt: BACKUP, disasterDoneAt: DISASTER_DONE }).rpoMs).toBe(0);
    const lost = w(13_000);
    expect(lossWindow([lost], [lost.marker], { backupStartedAt: BACKUP, disasterDoneAt: DISASTER_DONE }).rpoMs).toBe(3_000);
  });
});

test('the shipped drill file is a valid backup-restore drill under load', () => {
  expect(drillSchema.safeParse(backupRestore).success).toBe(true);
  expect(backupRestore).toMatchObject({ name: 'backup-restore', kind: 'backup-restore', disaster: 'drop-database', load: { script: 'scenarios/load/chat-mix.ts' } });
});

describe('requirePgTools', () => {
  test('finds pg_dump, pg_restore, psql and initdb beside the server binaries', () => {
    const t = requirePgTools();
    expect(t.pgDump).toBe(join(t.dir, 'pg_dump'));
    expect(t.pgRestore).toBe(join(t.dir, 'pg_restore'));
  });

  test('a directory without them is BW_TOOL_MISSING in one line with the fix', () => {
    const empty = mkdtempSync(join(tmpdir(), 'bw-no-pg-'));
    try {
      let err: unknown;
      try {
        requirePgTools(empty);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BreakwaterError);
      expect((err as BreakwaterError).code).toBe('BW_TOOL_MISSING');
      expect((err as BreakwaterError).message).toBe(`pg_dump, pg_restore, psql, initdb not found in ${empty}; run \`npx breakwater setup\` (Debian package postgresql)`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
