import type { ResolvedConfig } from '../config/load-config.ts';
import type { Fault, Span } from '../config/scenario.ts';
import type { Credentials } from '../config/target.ts';
import type { CheckResult, Finding, Measurement } from '../run/result.ts';
import type { Redactor } from '../safety/redact.ts';
import type { StartedStack } from '../stack/types.ts';

/**
 * Drills turn a runbook into evidence (`breakwater run --tier drill [--drill NAME]`).
 * Each drill file in `scenarios/drills/` exports `defineDrill({...})`; its record,
 * with the completion time, goes into the evidence so that a gate can require
 * "rollback rehearsed within 35 days".
 */
export type DrillDefinition = CanaryDrill | BackupRestoreDrill | IncidentDrill;

interface DrillBase {
  /** Unique name; the gate policy's `drills` refer to it (e.g. `rollback`, `backup-restore`). */
  name: string;
  description: string;
  /** Steady load during the drill: a k6 script relative to the root (BASE_URL, WS_URL, DURATION, ABORT_ON_FAIL=false are set). */
  load?: { script: string; env?: Record<string, string> };
}

/** Canary and rollback rehearsal: a candidate beside the baseline, a weighted route, a decision, a rollback. */
export interface CanaryDrill extends DrillBase {
  kind: 'canary';
  /** The candidate: the entry service started again with this environment on top of its own. */
  candidate: {
    env?: Record<string, string>;
    /** Candidate variables taken from the harness's environment: `{ TARGET_FLAWS: 'CANDIDATE_FLAWS' }`. */
    envFrom?: Record<string, string>;
  };
  /** Share of client connections routed to the candidate, 0..1. Default 0.25. */
  weight?: number;
  /** How long the canary is evaluated under load before the decision. Default 15s. */
  evaluateFor?: Span;
}

/** Backup under load, a disaster, a restore; RTO and RPO measured against the profile's objectives. */
export interface BackupRestoreDrill extends DrillBase {
  kind: 'backup-restore';
  /** What the disaster destroys. Default `drop-database`. */
  disaster?: 'drop-database' | 'destroy-data-dir';
  /** Load (and writes) before the backup, and between the backup and the disaster. Defaults 5s and 5s. */
  before?: Span;
  between?: Span;
}

/** Incident simulation: a fault that should page, alert rules evaluated over scraped metrics. */
export interface IncidentDrill extends DrillBase {
  kind: 'incident';
  /** Prometheus alerting rules file (YAML), relative to the root. */
  rules: string;
  /** The fault that should page, and how long it lasts. */
  fault: Fault;
  for: Span;
  /** Alert names that must fire during the fault (and none on a clean run without it). */
  expect: string[];
  /** Where the metrics are scraped (path on the entry link). Default `/metrics`. */
  metricsPath?: string;
  /** Scrape interval. Default 1s. */
  scrapeEvery?: Span;
}

export function defineDrill<D extends DrillDefinition>(drill: D): D {
  return drill;
}

/** What a drill gets: the started, seeded stack and the run's plumbing. */
export interface DrillContext {
  config: ResolvedConfig;
  stack: StartedStack;
  world: unknown;
  runId: string;
  /** `<run out>/drills/<name>/`, created: raw load output, timelines, the postmortem. */
  outDir: string;
  redactor: Redactor;
  signal?: AbortSignal;
  onStep?: (step: string) => void;
  /** Logs a profile principal in (cached); its credentials are registered with the redactor. */
  login(principal: string): Promise<Credentials>;
  /** Set by tests and the CLI to run a drill without its fault (the incident drill's clean run). */
  options?: Record<string, string | boolean>;
}

/** The record that goes into run.json `drills[]` and the evidence predicate. */
export interface DrillRecord {
  name: string;
  kind: DrillDefinition['kind'];
  /** `passed` is what the gate counts; `failed` means the rehearsal did not meet its objectives; `aborted` that it could not finish. */
  status: 'passed' | 'failed' | 'aborted';
  startedAt: string;
  completedAt: string;
  /** One line for people: the decision, the RTO/RPO, the alerts. */
  summary: string;
  /** Measured figures by name, e.g. `rtoMs`, `rpoMs`, `decisionMs`, `rollbackMs`, `timeToDetectMs`. */
  figures: Record<string, number>;
  /** Drill-specific detail (decision, lost writes, alert timeline...). JSON only, redacted. */
  details?: unknown;
  /** Files the drill wrote (e.g. `postmortem.md`), relative to the run's out dir. */
  files?: string[];
}

export interface DrillOutcome {
  record: DrillRecord;
  findings: Finding[];
  measurements: Measurement[];
  check: CheckResult;
}

export type DrillRunner<D extends DrillDefinition = DrillDefinition> = (drill: D, ctx: DrillContext) => Promise<DrillOutcome>;
