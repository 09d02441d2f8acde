import type { ProviderName } from '../stack/types.ts';
import type { TargetProfile } from './target.ts';

export type Tier = 'pr' | 'nightly' | 'drill';
export const TIERS: readonly Tier[] = ['pr', 'nightly', 'drill'];

export interface TierPlan {
  /** Globs of suite files (relative to the config file) that this tier runs. */
  suites: string[];
  /** Chaos scenarios by name. */
  scenarios?: string[];
  /** Drills by name (files in the drill directory). */
  drills?: string[];
  /** fast-check runs per property in this tier. */
  numRuns?: number;
}

/** The project config: `breakwater.config.ts` at the repo root. */
export interface BreakwaterConfig {
  /** The target profile (made with defineTarget). */
  target: TargetProfile;
  /** How the stack is started. Default `local`. */
  provider?: ProviderName;
  /** For `provider: 'attach'`: the running stack. */
  attach?: { baseUrl: string; toxiproxyUrl?: string };
  /** Hosts traffic may go to. Default loopback only. */
  allowlist?: string[];
  /** Directory that suite globs and relative service `cwd`s resolve against. Default: the config file's directory. */
  root?: string;
  /** Directory of the chaos scenario files (each `export default defineScenario(...)`). Default `scenarios/chaos`. */
  scenarioDir?: string;
  /** Directory of the drill files (each `export default defineDrill(...)`). Default `scenarios/drills`. */
  drillDir?: string;
  /** Output root; each run writes to `<out>/<run-id>/` unless `--out` is given. Default `reports`. */
  out?: string;
  tiers?: Partial<Record<Tier, TierPlan>>;
  /**
   * The target artifact that evidence is about: paths (relative to `root`) whose
   * git-tracked files are digested into the evidence subject. Default: the
   * entry service's `cwd`.
   */
  artifact?: string[];
}

export const DEFAULT_ALLOWLIST = ['127.0.0.1', 'localhost', '::1'];

export const DEFAULT_TIERS: Record<Tier, TierPlan> = {
  pr: { suites: ['suites/**/*.pr.test.ts'], numRuns: 25 },
  nightly: { suites: ['suites/**/*.test.ts'], numRuns: 1000 },
  drill: { suites: ['suites/smoke/**/*.test.ts'] },
};

/** Identity function that types the project config. */
export function defineConfig(config: BreakwaterConfig): BreakwaterConfig {
  return config;
}
