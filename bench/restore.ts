import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import config from '../breakwater.config.ts';
import { resolveConfig } from '../harness/config/load-config.ts';
import { spanMs } from '../harness/config/scenario.ts';
import type { Credentials } from '../harness/config/target.ts';
import { runBackupRestoreDrill } from '../harness/drills/backup-restore.ts';
import { Redactor } from '../harness/safety/redact.ts';
import { startLocalStack } from '../harness/stack/local-provider.ts';
import backupRestore from '../scenarios/drills/backup-restore.ts';
import { median, type BenchResult } from './types.ts';

const ROOT = join(import.meta.dirname, '..');
const RUNS = 3;

/**
 * The RTO of the shipped backup-and-restore drill (scenarios/drills/backup-restore.ts:
 * pg_dump under the chat mix, the database dropped, restored from the dump),
 * median of 3 drills on one reference stack, against the profile's objective.
 * Each drill restores the database the next one backs up.
 */
export async function benchRestore(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-restore-'));
  const resolved = resolveConfig(config, join(ROOT, 'breakwater.config.ts'));
  const runId = `bench-restore-${process.pid}`;
  const stack = await startLocalStack(resolved.target.stack, { runId, outDir: dir, rootDir: ROOT });
  try {
    const world = await resolved.target.seed({ baseUrl: stack.info.baseUrl, runId, secret: () => {} });
    const logins = new Map<string, Promise<Credentials>>();
    const login = (p: string) => {
      let c = logins.get(p);
      if (!c) logins.set(p, (c = resolved.target.principals[p]!.login({ baseUrl: stack.info.baseUrl, world, runId })));
      return c;
    };
    const runs: Array<Record<string, number>> = [];
    for (let i = 0; i < RUNS; i++) {
      const o = await runBackupRestoreDrill(backupRestore, { config: resolved, stack, world, runId, outDir: join(dir, `drill-${i}`), redactor: new Redactor([]), login });
      if (o.record.status === 'aborted') throw new Error(`backup-restore drill ${i + 1} aborted: ${o.record.summary}`);
      runs.push(o.record.figures);
    }
    const m = (k: string) => Math.round(median(runs.map((r) => r[k] ?? Number.NaN)));
    const rtoObjective = spanMs(resolved.target.recovery!.rto)!;
    const rpoObjective = spanMs(resolved.target.recovery!.rpo)!;
    const rto = m('rtoMs');
    const rpo = m('rpoMs');
    return {
      figures: [
        { figure: `restore drill RTO (median of ${RUNS})`, value: rto, unit: 'ms', goal: `<= ${rtoObjective}`, pass: rto <= rtoObjective },
        { figure: `restore drill RPO (median of ${RUNS})`, value: rpo, unit: 'ms', goal: `<= ${rpoObjective}`, pass: rpo <= rpoObjective },
        { figure: 'pg_restore, staging database and rename (median)', value: m('restoreMs'), unit: 'ms' },
        { figure: 'pg_dump -Fc under load (median)', value: m('backupMs'), unit: 'ms' },
      ],
      notes: [
        `RTO per drill (ms): ${runs.map((r) => r.rtoMs).join(', ')}; from the terminated sessions until /readyz answers 200 and a write sent after the disaster is acknowledged`,
        `RPO per drill (ms): ${runs.map((r) => r.rpoMs).join(', ')}; lost/acked writes: ${runs.map((r) => `${r.lostWrites}/${r.ackedWrites}`).join(', ')}; the drill waits ${backupRestore.between} between the backup and the disaster`,
        `dump size (bytes): ${runs.map((r) => r.backupBytes).join(', ')} (grows as each drill's writes survive into the next)`,
      ],
    };
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
