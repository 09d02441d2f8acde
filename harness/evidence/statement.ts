import { arch, platform, release } from 'node:os';
import { z } from 'zod';
import type { RunResult } from '../run/result.ts';
import type { SignerTrust } from './keys.ts';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const EVIDENCE_PREDICATE_TYPE = 'https://breakwater.dev/evidence/v1';
export const TEST_RESULT_PREDICATE_TYPE = 'https://in-toto.io/attestation/test-result/v0.1';
/** Version of the evidence predicate's schema; a verifier refuses any other. */
export const EVIDENCE_SCHEMA_VERSION = 1;

export interface ResourceDescriptor {
  name: string;
  digest: Record<string, string>;
  annotations?: Record<string, string>;
}

/** What the statement is about: the commit under test and the target artifact. */
export interface EvidenceSubject {
  commit: string;
  targetName: string;
  artifactDigest: string;
}

export function subjectOf(s: EvidenceSubject): ResourceDescriptor[] {
  return [
    { name: 'git+commit', digest: { gitCommit: s.commit } },
    { name: `target:${s.targetName}`, digest: { sha256: s.artifactDigest } },
  ];
}

/** One shard a merged predicate was made from. */
export interface ShardRef {
  runId: string;
  verdict: RunResult['verdict'];
  startedAt: string;
  finishedAt: string;
  seeds: RunResult['seeds'];
  keyid: string;
}

/**
 * The evidence predicate: the run result itself (tier, target, tools,
 * start/end, checks, findings, measurements, seeds ...), plus what a gate needs
 * around it: who signed and how far to trust that, the source and artifact it
 * is about, and the environment it ran in.
 */
export interface EvidencePredicate extends Omit<RunResult, 'schemaVersion'> {
  schemaVersion: typeof EVIDENCE_SCHEMA_VERSION;
  signer: { trust: SignerTrust; keyid: string };
  source: { commit: string; dirty: boolean };
  artifact: { paths: string[]; files: number; digest: string };
  environment: { node: string; platform: string; arch: string; release: string; ci: boolean };
  /** Chaos scenario journals (empty until the run has scenarios). */
  scenarios: unknown[];
  /** Drill results with their age (empty outside the drill tier). */
  drills: unknown[];
  /** Present on merged evidence: the shards it combines. */
  shards?: ShardRef[];
}

export interface Statement<P = unknown> {
  _type: typeof STATEMENT_TYPE;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate: P;
}

export type EvidenceStatement = Statement<EvidencePredicate> & { predicateType: typeof EVIDENCE_PREDICATE_TYPE };

export interface TestResultPredicate {
  result: 'PASSED' | 'WARNED' | 'FAILED';
  configuration: ResourceDescriptor[];
  passedTests: string[];
  warnedTests: string[];
  failedTests: string[];
}

export type TestResultStatement = Statement<TestResultPredicate> & { predicateType: typeof TEST_RESULT_PREDICATE_TYPE };

export interface EvidenceContext {
  subject: EvidenceSubject;
  dirty: boolean;
  artifact: { paths: string[]; files: number };
  signer: { trust: SignerTrust; keyid: string };
}

export function currentEnvironment(): EvidencePredicate['environment'] {
  return { node: process.version, platform: platform(), arch: arch(), release: release(), ci: !!process.env.CI };
}

/** The evidence statement for one run. */
export function buildEvidenceStatement(result: RunResult, ctx: EvidenceContext): EvidenceStatement {
  const { schemaVersion: _runSchema, ...run } = result;
  const extra = result as RunResult & { scenarios?: unknown[]; drills?: unknown[] };
  return {
    _type: STATEMENT_TYPE,
    subject: subjectOf(ctx.subject),
    predicateType: EVIDENCE_PREDICATE_TYPE,
    predicate: {
      schemaVersion: EVIDENCE_SCHEMA_VERSION,
      ...run,
      scenarios: extra.scenarios ?? [],
      drills: extra.drills ?? [],
      signer: ctx.signer,
      source: { commit: ctx.subject.commit, dirty: ctx.dirty },
      artifact: { paths: ctx.artifact.paths, files: ctx.artifact.files, digest: ctx.subject.artifactDigest },
      environment: currentEnvironment(),
    },
  };
}

/**
 * The same run in the standard in-toto test-result predicate, for attestation
 * gates that know nothing of Breakwater: PASSED with no finding, WARNED when
 * only findings below the blocking severity remain, FAILED when blocked or errored.
 */
export function buildTestResultStatement(result: RunResult, subject: EvidenceSubject, config: { name: string; sha256: string }): TestResultStatement {
  const outcome: TestResultPredicate['result'] = result.verdict !== 'pass' ? 'FAILED' : result.findings.length ? 'WARNED' : 'PASSED';
  const failed = result.checks.filter((c) => c.state === 'failed');
  const passed = result.checks.filter((c) => c.state === 'passed');
  return {
    _type: STATEMENT_TYPE,
    subject: subjectOf(subject),
    predicateType: TEST_RESULT_PREDICATE_TYPE,
    predicate: {
      result: outcome,
      configuration: [{ name: config.name, digest: { sha256: config.sha256 }, annotations: { tool: 'breakwater', tier: result.tier, runId: result.runId, verdict: result.verdict } }],
      passedTests: passed.map((c) => c.name),
      warnedTests: [],
      failedTests: failed.map((c) => c.name),
    },
  };
}

// ── schemas: what a verifier accepts ─────────────────────────────────────────
// Objects are loose: fields added to the run result later are signed like any
// other and must not make older verifiers reject good evidence.

const hex = (len: number) => z.string().regex(new RegExp(`^[0-9a-f]{${len}}$`), `must be ${len} lowercase hex digits`);
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date');
const severity = z.enum(['critical', 'high', 'medium', 'low']);

export const resourceDescriptorSchema = z.looseObject({ name: z.string(), digest: z.record(z.string(), z.string()), annotations: z.record(z.string(), z.string()).optional() });

export const statementSchema = z.looseObject({
  _type: z.literal(STATEMENT_TYPE),
  subject: z.array(resourceDescriptorSchema).min(1, 'must name at least one subject'),
  predicateType: z.string().min(1),
  predicate: z.record(z.string(), z.unknown()),
});

export const findingSchema = z.looseObject({
  id: z.string().min(1),
  check: z.string().min(1),
  suite: z.string(),
  severity,
  title: z.string(),
  subject: z.string(),
  observed: z.string(),
  expected: z.string(),
  excerpt: z.string().optional(),
  reproduce: z.looseObject({ seed: z.number().optional(), path: z.string().optional(), command: z.string() }),
});

export const evidencePredicateSchema = z.looseObject({
  schemaVersion: z.literal(EVIDENCE_SCHEMA_VERSION),
  runId: z.string().min(1),
  tier: z.enum(['pr', 'nightly', 'drill']),
  verdict: z.enum(['pass', 'blocked', 'error']),
  reasons: z.array(z.string()),
  target: z.looseObject({ name: z.string().min(1), provider: z.string(), baseUrl: z.string(), flaws: z.array(z.string()) }),
  startedAt: isoDate,
  finishedAt: isoDate,
  durationMs: z.number().nonnegative(),
  tools: z.record(z.string(), z.string()),
  seeds: z.looseObject({ fastCheck: z.number() }),
  checks: z.array(z.looseObject({ name: z.string(), suite: z.string(), state: z.enum(['passed', 'failed', 'skipped']), durationMs: z.number(), error: z.string().optional(), findings: z.number() })),
  findings: z.array(findingSchema),
  measurements: z.array(z.looseObject({ slo: z.string(), value: z.number(), unit: z.string(), objective: z.number(), pass: z.boolean(), window: z.string() })),
  incidents: z.array(z.looseObject({ service: z.string() })),
  teardownErrors: z.array(z.string()),
  scenarios: z.array(z.unknown()),
  drills: z.array(z.unknown()),
  signer: z.looseObject({ trust: z.enum(['configured', 'development']), keyid: hex(64) }),
  source: z.looseObject({ commit: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'must be a full git commit id'), dirty: z.boolean() }),
  artifact: z.looseObject({ paths: z.array(z.string()), files: z.number().int().nonnegative(), digest: hex(64) }),
  environment: z.looseObject({ node: z.string(), platform: z.string(), arch: z.string() }),
  shards: z.array(z.looseObject({ runId: z.string(), verdict: z.string(), startedAt: isoDate, finishedAt: isoDate, keyid: z.string() })).optional(),
});

export const testResultPredicateSchema = z.looseObject({
  result: z.enum(['PASSED', 'WARNED', 'FAILED']),
  configuration: z.array(resourceDescriptorSchema),
  url: z.string().optional(),
  passedTests: z.array(z.string()).optional(),
  warnedTests: z.array(z.string()).optional(),
  failedTests: z.array(z.string()).optional(),
});

/** The predicate schema for each predicate type this version of Breakwater reads. */
export const PREDICATE_SCHEMAS: Record<string, z.ZodType> = {
  [EVIDENCE_PREDICATE_TYPE]: evidencePredicateSchema,
  [TEST_RESULT_PREDICATE_TYPE]: testResultPredicateSchema,
};
