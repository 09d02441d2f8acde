import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { ResolvedConfig } from '../config/load-config.ts';
import { describeIssue } from '../config/resolve-target.ts';
import { faultSchema, spanSchema } from '../config/scenario.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import type { DrillDefinition } from './types.ts';

const base = {
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes'),
  description: z.string().min(1),
  load: z.object({ script: z.string().min(1), env: z.record(z.string(), z.string()).optional() }).strict().optional(),
};

export const drillSchema = z.discriminatedUnion('kind', [
  z
    .object({
      ...base,
      kind: z.literal('canary'),
      candidate: z.object({ env: z.record(z.string(), z.string()).optional(), envFrom: z.record(z.string(), z.string()).optional() }).strict(),
      weight: z.number().gt(0).lt(1).optional(),
      evaluateFor: spanSchema.optional(),
    })
    .strict(),
  z
    .object({
      ...base,
      kind: z.literal('backup-restore'),
      disaster: z.enum(['drop-database', 'destroy-data-dir']).optional(),
      before: spanSchema.optional(),
      between: spanSchema.optional(),
    })
    .strict(),
  z
    .object({
      ...base,
      kind: z.literal('incident'),
      rules: z.string().min(1),
      fault: faultSchema,
      for: spanSchema,
      expect: z.array(z.string().min(1)).min(1, 'must name at least one alert that should fire'),
      metricsPath: z.string().startsWith('/').optional(),
      scrapeEvery: spanSchema.optional(),
    })
    .strict(),
]);

export interface LoadedDrill {
  drill: DrillDefinition;
  /** The defining file, relative to the root. */
  source: string;
}

/** Imports every `*.ts` file of the config's drill directory and validates each; names must be unique. */
export async function loadDrills(config: ResolvedConfig): Promise<Map<string, LoadedDrill>> {
  const out = new Map<string, LoadedDrill>();
  const dir = resolve(config.rootDir, config.drillDir);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort().map((f) => join(dir, f)) : [];
  for (const file of files) {
    const source = relative(config.rootDir, file);
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (err) {
      throw new BreakwaterError('BW_CONFIG_INVALID', `drill file ${source} failed to load: ${oneLine(err)}`, { cause: err });
    }
    const parsed = drillSchema.safeParse(mod.default);
    if (!parsed.success) throw new BreakwaterError('BW_CONFIG_INVALID', `invalid drill ${describeIssue(source, parsed.error.issues[0]!)}; fix ${source}`);
    const drill = mod.default as DrillDefinition;
    const dup = out.get(drill.name);
    if (dup) throw new BreakwaterError('BW_CONFIG_INVALID', `drill name "${drill.name}" is defined twice (${dup.source} and ${source}); names must be unique`);
    out.set(drill.name, { drill, source });
  }
  return out;
}
