import { z } from 'zod';
import { BreakwaterError } from '../errors.ts';
import type { ToxicType } from '../stack/toxiproxy.ts';
import { describeIssue } from './resolve-target.ts';

/** A length of time: milliseconds, or a string like `'300ms'`, `'10s'`, `'2m'`. */
export type Span = number | `${number}ms` | `${number}s` | `${number}m`;

/**
 * A link of the stack: its name in the profile, or a role that any profile
 * has: `@entry` (client → app), `@postgres` / `@redis` (the link from the
 * entry service to the first service of that kind). Roles keep a scenario
 * usable against every profile.
 */
export type LinkRef = string;
/** A service of the stack: its name, or `@app` (behind the entry link), `@postgres`, `@redis`. */
export type ServiceRef = string;

/** One fault. Toxics go on a link; process faults need a provider that owns the processes. */
export type Fault =
  | {
      /** A Toxiproxy toxic. */
      toxic: ToxicType;
      link: LinkRef;
      /** `downstream`: service → client (responses); `upstream`: client → service. Default downstream. */
      stream?: 'upstream' | 'downstream';
      /** Toxiproxy attributes, e.g. `{ latency: 300, jitter: 50 }` or `{ rate: 64 }` (KB/s). */
      attributes?: Record<string, number>;
      /** Share of connections affected, 0..1. Default 1. */
      toxicity?: number;
    }
  /** The link refuses and drops every connection (the Toxiproxy proxy is disabled). */
  | { down: LinkRef }
  /** The service is killed (SIGKILL by default) and started again when the step ends. */
  | { kill: ServiceRef; signal?: 'SIGKILL' | 'SIGTERM' }
  /** Every process of the service is stopped (SIGSTOP) and continued (SIGCONT) when the step ends. */
  | { pause: ServiceRef };

/** A fault in the method's timeline: it is in place from `at` for `for`, measured from the end of the baseline. */
export interface FaultStep {
  at: Span;
  for: Span;
  fault: Fault;
  /** Shown in the journal and reports. Default: derived from the fault. */
  label?: string;
}

/** Steady-state indicator ids (the profile's SLO ids) with the value tolerated while the faults are in place. */
export type Tolerances = Record<string, number>;

/**
 * A chaos scenario: steady-state hypothesis, method (a fault timeline), load,
 * checks and rollback. Declarative, like a Chaos Toolkit experiment; the
 * harness guarantees the rollback and times every measurement on one clock.
 */
export interface ScenarioDefinition {
  /** Unique name, used by `--scenario` and the tiers' `scenarios` lists. Lowercase, digits and dashes. */
  name: string;
  description: string;
  /** Load that runs for the whole scenario: a k6 script (relative to the config's root). */
  load: {
    script: string;
    /** Extra environment for k6 (BASE_URL, WS_URL and DURATION are set by the harness). */
    env?: Record<string, string>;
    /** Split the load over this many k6 processes and merge their results. Default 1. */
    runners?: number;
  };
  /** Steady load before the first fault; the `before` phase of the hypothesis is measured over it. Default 5s. */
  baseline?: Span;
  method: FaultStep[];
  steadyState?: {
    /** SLO ids of the profile that make up the hypothesis (default: all of them). */
    slos?: string[];
    /** Tolerances while faults are in place, by SLO id; SLOs not named here are not judged during the faults. */
    during?: Tolerances;
    /** Requests that never complete (client timeouts) tolerated while faults are in place. Default 0. */
    hungRequests?: number;
  };
  /** After the last fault is rolled back, the hypothesis must hold again within this bound. */
  recovery: { within: Span };
  /** The `after` phase: how long the hypothesis is measured once recovered. Default 5s. */
  after?: Span;
  /** The nothing-lost checker's writers (when the profile declares `integrity`). Default on, 20 writes/s. */
  integrity?: false | { ratePerSecond?: number; via?: Array<'http' | 'ws'> };
}

/** Identity function that types a scenario. Validation happens when it is loaded. */
export function defineScenario(scenario: ScenarioDefinition): ScenarioDefinition {
  return scenario;
}

const SPAN = /^(\d+(?:\.\d+)?)(ms|s|m)$/;
const UNIT = { ms: 1, s: 1000, m: 60_000 } as const;

/** Milliseconds of a span, or undefined when it is not one. */
export function spanMs(span: Span): number | undefined {
  if (typeof span === 'number') return Number.isFinite(span) && span >= 0 ? span : undefined;
  const m = SPAN.exec(span);
  return m ? Number(m[1]) * UNIT[m[2] as keyof typeof UNIT] : undefined;
}

export const spanSchema = z.union([z.number(), z.string()]).refine((v) => spanMs(v as Span) !== undefined, 'must be a duration: milliseconds, or "300ms", "10s", "2m"');
const TOXICS = ['latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data'] as const;
const ref = z.string().min(1);
export const faultSchema = z.union([
  z
    .object({
      toxic: z.enum(TOXICS),
      link: ref,
      stream: z.enum(['upstream', 'downstream']).optional(),
      attributes: z.record(z.string(), z.number().nonnegative()).optional(),
      toxicity: z.number().min(0).max(1).optional(),
    })
    .strict(),
  z.object({ down: ref }).strict(),
  z.object({ kill: ref, signal: z.enum(['SIGKILL', 'SIGTERM']).optional() }).strict(),
  z.object({ pause: ref }).strict(),
]);

export const scenarioSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes'),
    description: z.string().min(1),
    load: z.object({ script: z.string().min(1), env: z.record(z.string(), z.string()).optional(), runners: z.number().int().min(1).max(8).optional() }).strict(),
    baseline: spanSchema.optional(),
    method: z
      .array(z.object({ at: spanSchema, for: spanSchema, fault: faultSchema, label: z.string().min(1).optional() }).strict())
      .min(1, 'needs at least one fault')
      .max(50, 'at most 50 faults'),
    steadyState: z
      .object({
        slos: z.array(z.string().min(1)).min(1).optional(),
        during: z.record(z.string(), z.number()).optional(),
        hungRequests: z.number().int().nonnegative().optional(),
      })
      .strict()
      .optional(),
    recovery: z.object({ within: spanSchema }).strict(),
    after: spanSchema.optional(),
    integrity: z
      .union([z.literal(false), z.object({ ratePerSecond: z.number().positive().max(500).optional(), via: z.array(z.enum(['http', 'ws'])).min(1).optional() }).strict()])
      .optional(),
  })
  .strict();

/** The longest a scenario may take in total: a bound on every loop it runs. */
export const MAX_SCENARIO_MS = 15 * 60_000;

/** Validates one scenario; throws BW_CONFIG_INVALID with a one-line message naming the field. */
export function resolveScenario(raw: unknown, source: string): ScenarioDefinition {
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BreakwaterError('BW_CONFIG_INVALID', `invalid scenario ${describeIssue(source, parsed.error.issues[0]!)}; fix ${source}`);
  }
  const s = raw as ScenarioDefinition;
  const total = scenarioLengthMs(s);
  if (total > MAX_SCENARIO_MS) {
    throw new BreakwaterError('BW_CONFIG_INVALID', `scenario ${s.name} would run ${Math.round(total / 1000)} s, more than the ${MAX_SCENARIO_MS / 60_000} min bound; shorten its method or recovery bound in ${source}`);
  }
  return s;
}

/** The phases of a scenario, in ms from its start. */
export function scenarioPlan(s: ScenarioDefinition): { baselineMs: number; methodMs: number; recoveryMs: number; afterMs: number } {
  const methodMs = Math.max(...s.method.map((st) => spanMs(st.at)! + spanMs(st.for)!));
  return { baselineMs: spanMs(s.baseline ?? '5s')!, methodMs, recoveryMs: spanMs(s.recovery.within)!, afterMs: spanMs(s.after ?? '5s')! };
}

/** The length of the load: baseline + method + the recovery bound + the after phase. */
export function scenarioLengthMs(s: ScenarioDefinition): number {
  const p = scenarioPlan(s);
  return p.baselineMs + p.methodMs + p.recoveryMs + p.afterMs;
}

/** A short human label for a fault. */
export function faultLabel(f: Fault): string {
  if ('toxic' in f) {
    const attrs = Object.entries(f.attributes ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return `${f.toxic}${attrs ? `(${attrs})` : ''} on ${f.link} ${f.stream ?? 'downstream'}`;
  }
  if ('down' in f) return `${f.down} down`;
  if ('kill' in f) return `kill ${f.kill}`;
  return `pause ${f.pause}`;
}
