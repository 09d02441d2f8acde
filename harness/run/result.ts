import { createHash } from 'node:crypto';
import type { Severity } from '../config/target.ts';
import type { Tier } from '../config/config.ts';
import type { ExitRecord } from '../stack/managed-process.ts';
import type { ProviderName } from '../stack/types.ts';

/** One broken boundary or property. The id is stable across runs: hash(check, subject). */
export interface Finding {
  id: string;
  check: string;
  suite: string;
  severity: Severity;
  title: string;
  /** What was attacked: a route, an event, a link. */
  subject: string;
  observed: string;
  expected: string;
  /** Redacted request/response excerpt. */
  excerpt?: string;
  reproduce: { seed?: number; path?: string; command: string };
}

/** A finding whose case did not fail again when re-run on the same stack: recorded, never blocking. */
export interface UnconfirmedFinding extends Finding {
  /** What the re-run observed instead. */
  unconfirmed: string;
}

export interface Measurement {
  slo: string;
  value: number;
  unit: string;
  objective: number;
  pass: boolean;
  window: string;
}

export interface CheckResult {
  /** `<suite file> > <test name>` */
  name: string;
  suite: string;
  state: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  /** First line of the failure, redacted. */
  error?: string;
  /** Why a skipped check did not run (its skip note). */
  note?: string;
  /**
   * Cases the outcome oracle could not judge (rate-limited, unavailable, no
   * answer), after retries: neither passes nor findings. `conclusive` counts
   * the judged ones; `reasons` the distinct reasons with their counts.
   */
  inconclusive?: { cases: number; conclusive: number; reasons: string[] };
  /** What the check measured, kept for passing checks too ("accepted 48 of 100, bound 52"). */
  figures?: CheckFigure[];
  findings: number;
  /** Ids of the findings this check reported (absent in results written before it was recorded). */
  findingIds?: string[];
}

/** One cell of the authz matrix as it ran: who asked for what, what the policy expects and what came back. */
export interface MatrixCellResult {
  principal: string;
  resource: string;
  op: string;
  expected: 'allow' | 'deny';
  status: number;
  /** The cell met its expectation, i.e. it produced no finding. */
  pass: boolean;
  /** Why the cell could not be judged (rate-limited, unavailable, a 5xx, no answer), when it could not: then pass is false and there is no finding. */
  inconclusive?: string;
}

/** One measured value of a check against the bound it was judged by. */
export interface CheckFigure {
  /** What was measured, e.g. "post, one connection: frames accepted". */
  what: string;
  value: number;
  /** Out of how many, when it is a count. */
  of?: number;
  /** The bound the value was judged against (at most, unless `atLeast`). */
  bound?: number;
  atLeast?: boolean;
  unit?: string;
}

export type Verdict = 'pass' | 'blocked' | 'error';

/**
 * Where the run's traffic could go. `sealed`: the harness and every process it
 * started shared a network namespace whose only interface is loopback, so
 * nothing could leave this machine. `host`: they did not (attach, compose, or
 * a local run that could not be sealed), and `reason` says why.
 */
export interface NetworkRecord {
  mode: 'sealed' | 'host';
  /**
   * SSRF cases that name non-loopback addresses (private, CGNAT, link-local,
   * metadata): `sent` on a sealed network (they cannot leave it), `allowed`
   * when the profile opted in for this tier off a sealed network (they may
   * reach that network), `skipped` otherwise (never sent).
   */
  offHostTargets: 'sent' | 'allowed' | 'skipped';
  reason?: string;
}

/** The one source of truth for a run: every reporter, the evidence and the gate read this. */
export interface RunResult {
  schemaVersion: 1;
  runId: string;
  tier: Tier;
  verdict: Verdict;
  /** Why the verdict is not pass, one line each. */
  reasons: string[];
  target: { name: string; provider: ProviderName; baseUrl: string; flaws: string[] };
  /** Absent in results written before the sealed network existed: a gate that requires `sealed` reads that as not sealed. */
  network?: NetworkRecord;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  tools: Record<string, string>;
  seeds: { fastCheck: number };
  checks: CheckResult[];
  findings: Finding[];
  /** Findings that did not reproduce when their case was re-run once: they block nothing. */
  unconfirmed?: UnconfirmedFinding[];
  measurements: Measurement[];
  /** The authz matrix cells, when the run included the matrix suite (every round of it on nightly). */
  matrix?: MatrixCellResult[];
  /**
   * Journals of the chaos scenarios the run executed, in order: the runner
   * writes `ScenarioJournal`s (scenario-runner.ts). Typed loosely because
   * readers (reports, gate) also read older and foreign results and validate
   * what they use.
   */
  scenarios?: unknown[];
  /** Drill records (`DrillRecord`, harness/drills/types.ts) with their completion time: the gate's freshness rules read them. */
  drills?: unknown[];
  /** Service processes that died without being asked to. */
  incidents: ExitRecord[];
  teardownErrors: string[];
}

export const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

/** Stable finding id: the same check on the same subject gives the same id in every run. */
export function findingId(check: string, subject: string): string {
  return createHash('sha256').update(`${check}\u0000${subject}`).digest('hex').slice(0, 16);
}
