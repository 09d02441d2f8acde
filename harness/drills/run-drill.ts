import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { oneLine } from '../errors.ts';
import type { LoadedDrill } from './load-drills.ts';
import type { DrillContext, DrillOutcome } from './types.ts';

/**
 * Runs one drill by its kind. A drill that throws (a tool missing, the
 * provider unable to do what it needs) becomes an `aborted` record and a
 * failed check with the reason, never a crash of the run.
 */
export async function runDrill(loaded: LoadedDrill, ctx: Omit<DrillContext, 'outDir'> & { runOutDir: string }): Promise<DrillOutcome> {
  const { drill, source } = loaded;
  const outDir = join(ctx.runOutDir, 'drills', drill.name);
  mkdirSync(outDir, { recursive: true });
  const full: DrillContext = { ...ctx, outDir };
  const started = new Date();
  try {
    const outcome =
      drill.kind === 'canary'
        ? await (await import('./canary.ts')).runCanaryDrill(drill, full)
        : drill.kind === 'backup-restore'
          ? await (await import('./backup-restore.ts')).runBackupRestoreDrill(drill, full)
          : await (await import('./incident.ts')).runIncidentDrill(drill, full);
    // The runners do not know which file defined the drill; reports group checks by it.
    outcome.check.suite = source;
    return outcome;
  } catch (err) {
    const reason = ctx.signal?.aborted ? 'interrupted' : ctx.redactor.redact(oneLine(err));
    const finished = new Date();
    return {
      record: { name: drill.name, kind: drill.kind, status: 'aborted', startedAt: started.toISOString(), completedAt: finished.toISOString(), summary: reason, figures: {} },
      findings: [],
      measurements: [],
      check: { name: `drill > ${drill.name}`, suite: source, state: 'failed', durationMs: finished.getTime() - started.getTime(), error: reason, findings: 0 },
    };
  }
}
