import type { Tier } from '../config/config.ts';
import type { StackInfo } from '../stack/types.ts';

/** What the runner hands to suite files through vitest's provide/inject. JSON only. */
export interface ProvidedRun {
  configPath: string;
  runId: string;
  tier: Tier;
  outDir: string;
  numRuns: number;
  fcSeed: number;
  stack: StackInfo;
  world: unknown;
  /** Secrets known to the runner (generated ones, seed passwords): suites must redact them too. */
  secrets: string[];
  /** Generated `{{secret:NAME}}` values by name (e.g. a signing key token tampering needs). Memory only. */
  stackSecrets: Record<string, string>;
  /** Set by `breakwater replay`: run only the property with this check and subject, at this seed and path. */
  replay?: { findingId: string; check: string; subject: string; seed: number; path?: string };
  /** The run's loopback canary listener and allowed origin, when the profile has egress endpoints. */
  egress?: { canaryOrigin: string; allowedOrigin: string };
  /** Whether the run is sealed, and so whether SSRF cases naming non-loopback addresses may be sent. Absent: not sealed, never sent. */
  network?: import('../run/result.ts').NetworkRecord;
}

export interface FindingMeta {
  findings: import('../run/result.ts').Finding[];
  /** Credentials seen by this test, so the runner can redact every artifact. */
  secrets: string[];
  /** The authz matrix cells this test ran, for the reports' matrix grid. */
  matrix?: import('../run/result.ts').MatrixCellResult[];
  /** Cases the outcome oracle judged: how many were conclusive, and the inconclusive ones with why. */
  cases?: { conclusive: number; inconclusive: Array<{ subject: string; why: string }> };
  /** Findings whose case did not fail again when re-run: kept with why, blocking nothing. */
  unconfirmed?: import('../run/result.ts').UnconfirmedFinding[];
  /** What the test measured, for the run result (passing checks included). */
  figures?: import('../run/result.ts').CheckFigure[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    breakwater: ProvidedRun;
  }
}

declare module '@vitest/runner' {
  interface TaskMeta {
    breakwater?: FindingMeta;
  }
}
