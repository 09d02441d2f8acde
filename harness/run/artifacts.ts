import type { ResolvedConfig } from '../config/load-config.ts';
import type { Redactor } from '../safety/redact.ts';
import { evidenceWriter } from '../evidence/evidence-writer.ts';
import { reportWriter } from '../report/report-writer.ts';
import type { RunResult } from './result.ts';

/** What an artifact writer gets once run.json is written. */
export interface ArtifactContext {
  result: RunResult;
  outDir: string;
  runJson: string;
  config: ResolvedConfig;
  /** Every secret of the run: whatever a writer emits must pass through it. */
  redactor: Redactor;
}

/** Writes artifacts derived from the run result (evidence, reports) and returns the paths it wrote, by kind. */
export interface ArtifactWriter {
  name: string;
  write(ctx: ArtifactContext): Promise<Record<string, string>>;
}

/** In order: the evidence first (the reports may cite it). */
export const ARTIFACT_WRITERS: ArtifactWriter[] = [evidenceWriter, reportWriter];

/** Runs every writer; a failing writer is reported by name and does not stop the others. */
export async function writeArtifacts(ctx: ArtifactContext): Promise<{ paths: Record<string, string>; errors: string[] }> {
  const paths: Record<string, string> = {};
  const errors: string[] = [];
  for (const w of ARTIFACT_WRITERS) {
    try {
      Object.assign(paths, await w.write(ctx));
    } catch (err) {
      errors.push(`${w.name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { paths, errors };
}
