import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { BreakwaterError, oneLine } from '../errors.ts';
import { DEFAULT_ALLOWLIST, DEFAULT_TIERS, TIERS, type BreakwaterConfig, type Tier, type TierPlan } from './config.ts';
import { describeIssue, resolveTarget } from './resolve-target.ts';
import type { TargetProfile } from './target.ts';

export interface ResolvedConfig {
  configPath: string;
  rootDir: string;
  target: TargetProfile;
  provider: 'local' | 'compose' | 'attach';
  attach?: { baseUrl: string; toxiproxyUrl?: string };
  allowlist: string[];
  out: string;
  tiers: Record<Tier, Required<Pick<TierPlan, 'suites'>> & TierPlan>;
  /** Directory (relative to rootDir) of the chaos scenario files. */
  scenarioDir: string;
  /** Directory (relative to rootDir) of the drill files. */
  drillDir: string;
  /** Paths (relative to rootDir) of the target artifact; see BreakwaterConfig.artifact. */
  artifact?: string[];
}

const configSchema = z
  .object({
    target: z.unknown(),
    provider: z.enum(['local', 'compose', 'attach']).optional(),
    attach: z.object({ baseUrl: z.string().url('must be a URL'), toxiproxyUrl: z.string().url('must be a URL').optional() }).strict().optional(),
    allowlist: z.array(z.string().min(1)).optional(),
    root: z.string().min(1).optional(),
    scenarioDir: z.string().min(1).optional(),
    drillDir: z.string().min(1).optional(),
    out: z.string().min(1).optional(),
    tiers: z
      .object(Object.fromEntries(TIERS.map((t) => [t, z.object({ suites: z.array(z.string().min(1)), scenarios: z.array(z.string()).optional(), drills: z.array(z.string()).optional(), numRuns: z.number().int().positive().optional() }).strict().optional()])))
      .strict()
      .optional(),
    artifact: z.array(z.string().min(1).refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), 'must be a path inside the root (relative, no "..")')).min(1).optional(),
  })
  .strict()
  .refine((c) => c.provider !== 'attach' || !!c.attach, { message: 'provider "attach" needs attach.baseUrl', path: ['attach'] });

export const DEFAULT_CONFIG_FILE = 'breakwater.config.ts';

/** Imports and validates `breakwater.config.ts` (or the given path). */
export async function loadConfig(path = DEFAULT_CONFIG_FILE, cwd = process.cwd()): Promise<ResolvedConfig> {
  const configPath = resolve(cwd, path);
  if (!existsSync(configPath)) {
    throw new BreakwaterError('BW_CONFIG_NOT_FOUND', `no config at ${configPath}; create ${DEFAULT_CONFIG_FILE} or pass --config <file>`);
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(configPath).href)) as { default?: unknown };
  } catch (err) {
    if (err instanceof BreakwaterError) throw err;
    throw new BreakwaterError('BW_CONFIG_INVALID', `${configPath} failed to load: ${oneLine(err)}`, { cause: err });
  }
  return resolveConfig(mod.default, configPath);
}

/** Validates a config object; the profile is validated by resolveTarget(). */
export function resolveConfig(raw: unknown, configPath: string): ResolvedConfig {
  if (!raw || typeof raw !== 'object') {
    throw new BreakwaterError('BW_CONFIG_INVALID', `${configPath} must \`export default defineConfig({...})\``);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BreakwaterError('BW_CONFIG_INVALID', `invalid config ${describeIssue('config', parsed.error.issues[0]!)}; fix ${configPath}`);
  }
  const cfg = raw as BreakwaterConfig;
  const target = resolveTarget(cfg.target, 'profile');
  const tiers = Object.fromEntries(TIERS.map((t) => [t, { ...DEFAULT_TIERS[t], ...cfg.tiers?.[t] }])) as ResolvedConfig['tiers'];
  return {
    configPath,
    rootDir: resolve(dirname(configPath), cfg.root ?? '.'),
    target,
    provider: cfg.provider ?? 'local',
    attach: cfg.attach,
    allowlist: cfg.allowlist ?? DEFAULT_ALLOWLIST,
    out: resolve(dirname(configPath), cfg.out ?? 'reports'),
    tiers,
    scenarioDir: cfg.scenarioDir ?? 'scenarios/chaos',
    drillDir: cfg.drillDir ?? 'scenarios/drills',
    artifact: cfg.artifact,
  };
}
