import { renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BreakwaterError } from '../errors.ts';
import type { ArtifactWriter } from '../run/artifacts.ts';
import type { RunResult } from '../run/result.ts';
import type { Redactor } from '../safety/redact.ts';
import { multiplex, REPORTERS, type ReporterContext, type ReporterFailure, type ReporterName } from './reporter.ts';

export const DEFAULT_REPORTERS: ReporterName[] = ['junit', 'sarif', 'markdown', 'html'];

export interface WriteReportsOptions {
  outDir: string;
  redactor: Redactor;
  /** Reporter names from {@link REPORTERS}; default all. */
  reporters?: string[];
}

/** Every string inside a JSON-able value through the redactor (before rendering, so escaping cannot hide a secret). */
function redactStrings<T>(value: T, redactor: Redactor): T {
  if (typeof value === 'string') return redactor.redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactStrings(v, redactor)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactStrings(v, redactor)])) as T;
  return value;
}

/**
 * Runs the chosen reporters over the run result and writes their files into
 * `outDir`. Every string of the result is redacted before a reporter sees it,
 * and every file is redacted again as it is written. A failing reporter does
 * not stop the others; its failure is returned.
 */
export async function writeReports(result: RunResult, opts: WriteReportsOptions): Promise<{ paths: Record<string, string>; failures: ReporterFailure[] }> {
  const names = opts.reporters ?? DEFAULT_REPORTERS;
  const unknown = names.filter((n) => !Object.hasOwn(REPORTERS, n));
  if (unknown.length) {
    throw new BreakwaterError('BW_USAGE', `unknown reporter "${unknown.join('", "')}" (reporters: ${Object.keys(REPORTERS).join(', ')})`);
  }
  const mux = multiplex(names.map((n) => REPORTERS[n as ReporterName]()));
  const ctx: ReporterContext = {
    outDir: opts.outDir,
    redactor: opts.redactor,
    emit(file, text) {
      if (basename(file) !== file) throw new Error(`report file "${file}" must be a plain file name inside the run's output dir`);
      const path = join(opts.outDir, file);
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, opts.redactor.redact(text));
      renameSync(tmp, path);
      return path;
    },
  };
  const clean = redactStrings(result, opts.redactor);
  await mux.onRunStart({ runId: clean.runId, tier: clean.tier, target: clean.target, startedAt: clean.startedAt });
  for (const c of clean.checks ?? []) await mux.onCheck(c);
  for (const f of clean.findings ?? []) await mux.onFinding(f);
  const paths = await mux.onRunEnd(clean, ctx);
  return { paths, failures: mux.failures };
}

/** Writes the JUnit, SARIF, Markdown and HTML reports of a run next to its run.json. */
export const reportWriter: ArtifactWriter = {
  name: 'reports',
  async write(ctx) {
    const { paths, failures } = await writeReports(ctx.result, { outDir: ctx.outDir, redactor: ctx.redactor });
    if (failures.length) {
      const written = Object.keys(paths);
      throw new Error(`${failures.map((f) => `${f.reporter} reporter failed in ${f.hook}: ${f.message}`).join('; ')}${written.length ? ` (written: ${written.join(', ')})` : ''}`);
    }
    return paths;
  },
};
