import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { TIERS, type Tier } from '../config/config.ts';
import { describeIssue } from '../config/resolve-target.ts';
import type { Severity } from '../config/target.ts';
import { BreakwaterError, oneLine } from '../errors.ts';
import { DURATION_RULE, parseDuration, type Duration } from './freshness.ts';

export type GateStage = 'pr' | 'nightly' | 'release';
export const GATE_STAGES: readonly GateStage[] = ['pr', 'nightly', 'release'];

/** What one stage of the gate demands of the evidence. */
export interface StagePolicy {
  /** Tiers that must each have a verified evidence file among `--evidence`. */
  tiers: Tier[];
  /**
   * The highest finding severity allowed: any open (unwaived) finding above it
   * blocks. `'none'` allows no finding at all.
   */
  maxSeverity: Severity | 'none';
  /** SLO ids that must pass: a missing or failing measurement blocks. */
  slos?: string[];
  /** How old evidence may be, from the run's `finishedAt` to the gate's clock, e.g. `'24h'`. */
  maxEvidenceAge: Duration;
  /**
   * Drills that must have passed, and how long ago at most, e.g. `{ rollback: '35d' }`.
   * Drills are read from `predicate.drills` of the evidence and of the history.
   */
  drills?: Record<string, Duration>;
  /**
   * `'sealed'`: every evidence file must come from a sealed run (its stack in
   * a loopback-only network namespace, `predicate.network.mode`). Evidence from
   * a host-network run, or written before runs recorded it, blocks.
   */
  network?: 'sealed' | 'any';
  /**
   * How many inconclusive cases (the target did not decide: rate-limited,
   * unavailable, a 5xx, no answer, after retries) the evidence may hold.
   * Default 0 for the `pr` stage, unlimited for the others.
   */
  maxInconclusive?: number;
}

/** The release gate's policy: `gate.policy.ts` at the repo root. */
export interface GatePolicy {
  /**
   * The SLO ids the project declares (usually its profile's `slos`): the
   * denominator of the rubric's measurement completeness. Default: every SLO
   * some stage requires.
   */
  slos?: string[];
  /** Suite path prefixes whose checks make up the smoke run. Default `['suites/smoke/']`. */
  smokeSuites?: string[];
  stages: Partial<Record<GateStage, StagePolicy>>;
}

/** A policy with its defaults filled in, as the gate reads it. */
export interface ResolvedGatePolicy {
  path: string;
  slos: string[];
  smokeSuites: string[];
  stages: Partial<Record<GateStage, StagePolicy>>;
}

/** Identity function that types the gate policy. */
export function defineGatePolicy(policy: GatePolicy): GatePolicy {
  return policy;
}

const duration = z.string().refine((s) => parseDuration(s) !== undefined, DURATION_RULE);
const sloId = z.string().min(1, 'must not be empty');

const stageSchema = z
  .object({
    tiers: z.array(z.enum(TIERS as [Tier, ...Tier[]])).min(1, 'must name at least one tier (pr, nightly, drill)'),
    maxSeverity: z.enum(['none', 'low', 'medium', 'high', 'critical']),
    slos: z.array(sloId).optional(),
    maxEvidenceAge: duration,
    drills: z.record(z.string().min(1), duration).optional(),
    network: z.enum(['sealed', 'any']).optional(),
    maxInconclusive: z.number().int().nonnegative().optional(),
  })
  .strict();

const policySchema = z
  .object({
    slos: z.array(sloId).optional(),
    smokeSuites: z.array(z.string().min(1)).min(1).optional(),
    stages: z
      .object(Object.fromEntries(GATE_STAGES.map((s) => [s, stageSchema.optional()])))
      .strict()
      .refine((s) => Object.values(s).some(Boolean), 'must define at least one stage (pr, nightly, release)'),
  })
  .strict();

/** Validates a policy object; `path` names it in messages. Throws BW_CONFIG_INVALID (exit 2) naming the field and the rule. */
export function resolveGatePolicy(raw: unknown, path: string): ResolvedGatePolicy {
  if (!raw || typeof raw !== 'object') {
    throw new BreakwaterError('BW_CONFIG_INVALID', `${path} must \`export default defineGatePolicy({ stages: {...} })\``);
  }
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    throw new BreakwaterError('BW_CONFIG_INVALID', `invalid gate policy ${describeIssue('policy', parsed.error.issues[0]!)}; fix ${path}`);
  }
  const p = raw as GatePolicy;
  const required = GATE_STAGES.flatMap((s) => p.stages[s]?.slos ?? []);
  return { path, slos: [...new Set(p.slos ?? required)], smokeSuites: p.smokeSuites ?? ['suites/smoke/'], stages: p.stages };
}

/** Imports and validates a gate policy file (TypeScript or JavaScript with a default export). */
export async function loadGatePolicy(path: string, cwd = process.cwd()): Promise<ResolvedGatePolicy> {
  const abs = resolve(cwd, path);
  if (!existsSync(abs)) throw new BreakwaterError('BW_CONFIG_NOT_FOUND', `no gate policy at ${abs}; create gate.policy.ts or pass --policy <file>`);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
  } catch (err) {
    if (err instanceof BreakwaterError) throw err;
    throw new BreakwaterError('BW_CONFIG_INVALID', `gate policy ${abs} failed to load: ${oneLine(err)}`, { cause: err });
  }
  return resolveGatePolicy(mod.default, abs);
}

/** The policy of one stage; a stage the policy does not define is a usage error. */
export function stagePolicy(policy: ResolvedGatePolicy, stage: GateStage): StagePolicy {
  const s = policy.stages[stage];
  if (!s) {
    const defined = GATE_STAGES.filter((x) => policy.stages[x]).join(', ');
    throw new BreakwaterError('BW_USAGE', `${policy.path} defines no "${stage}" stage (it defines: ${defined}); add stages.${stage} or pick one of those`);
  }
  return s;
}
