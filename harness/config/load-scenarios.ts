import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BreakwaterError, oneLine } from '../errors.ts';
import type { ResolvedConfig } from './load-config.ts';
import { resolveScenario, type ScenarioDefinition } from './scenario.ts';

export interface LoadedScenario {
  scenario: ScenarioDefinition;
  /** The defining file, relative to the root. */
  source: string;
}

/** Imports every `*.ts` file of the config's scenario directory and validates each; names must be unique. */
export async function loadScenarios(config: ResolvedConfig): Promise<Map<string, LoadedScenario>> {
  const out = new Map<string, LoadedScenario>();
  const dir = resolve(config.rootDir, config.scenarioDir);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort().map((f) => join(dir, f)) : [];
  for (const file of files) {
    const source = relative(config.rootDir, resolve(config.rootDir, file));
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(resolve(config.rootDir, file)).href)) as { default?: unknown };
    } catch (err) {
      throw new BreakwaterError('BW_CONFIG_INVALID', `scenario file ${source} failed to load: ${oneLine(err)}`, { cause: err });
    }
    if (mod.default === undefined) throw new BreakwaterError('BW_CONFIG_INVALID', `scenario file ${source} must \`export default defineScenario({...})\``);
    const scenario = resolveScenario(mod.default, source);
    const dup = out.get(scenario.name);
    if (dup) throw new BreakwaterError('BW_CONFIG_INVALID', `scenario name "${scenario.name}" is defined twice (${dup.source} and ${source}); names must be unique`);
    out.set(scenario.name, { scenario, source });
  }
  return out;
}
