import type { EvidencePredicate } from '../evidence/statement.ts';
import { SEVERITY_RANK, type Finding } from '../run/result.ts';
import { flakyChecks, recentRuns, type FlakyCheck } from './flake.ts';
import { freshness, parseDuration } from './freshness.ts';
import { GATE_STAGES, type ResolvedGatePolicy, type StagePolicy } from './policy.ts';

/**
 * The weighted reliability rubric. Every category is scored 0–4 from the
 * evidence and the run history; total = Σ (score / 4) × weight, out of 100.
 * docs/rubric.md states how each score is derived; keep the two in step.
 */
export const RUBRIC_CATEGORIES = [
  { id: 'measurement', name: 'Measurement completeness', weight: 20 },
  { id: 'reliability', name: 'Reliability outcomes', weight: 25 },
  { id: 'testing', name: 'Test and CI strength', weight: 15 },
  { id: 'security', name: 'Security and abuse resistance', weight: 15 },
  { id: 'operability', name: 'Operability and incident readiness', weight: 15 },
  { id: 'delivery', name: 'Delivery discipline', weight: 10 },
] as const;

export type RubricCategoryId = (typeof RUBRIC_CATEGORIES)[number]['id'];

export type RubricBand = 'below-hardening' | 'hardening-complete' | 'validation-window' | 'feature-re-entry';

export const BAND_TEXT: Record<RubricBand, string> = {
  'below-hardening': 'below 80: hardening not complete',
  'hardening-complete': 'hardening complete',
  'validation-window': 'enter the validation window',
  'feature-re-entry': 'feature re-entry',
};

export interface RubricCategory {
  id: RubricCategoryId;
  name: string;
  weight: number;
  /** 0..4 */
  score: number;
  /** (score / 4) × weight */
  points: number;
  /** How the score came about, one line. */
  basis: string;
}

export interface Rubric {
  categories: RubricCategory[];
  total: number;
  band: RubricBand;
  noGo: boolean;
  noGoReasons: string[];
}

/** The boundary suite families whose coverage the security score counts. */
export const SECURITY_SUITES = ['authz', 'isolation', 'abuse', 'ssrf', 'telemetry'] as const;
/** Consecutive failed smoke runs that make an automatic no-go. */
export const SMOKE_FAILURE_LIMIT = 3;
/** History runs needed before "no flaky check" earns its point. */
export const MIN_FLAKE_HISTORY = 5;

/** Total and band of a table of category scores (0..4 each, by category id). */
export function rubricTotal(scores: Record<RubricCategoryId, number>): { categories: RubricCategory[]; total: number; band: RubricBand } {
  const categories = RUBRIC_CATEGORIES.map((c) => {
    const score = Math.max(0, Math.min(4, Math.floor(scores[c.id])));
    return { ...c, score, points: (score / 4) * c.weight, basis: '' };
  });
  return { categories, ...bandOf(categories) };
}

function bandOf(categories: Pick<RubricCategory, 'score' | 'points'>[]): { total: number; band: RubricBand } {
  const total = categories.reduce((n, c) => n + c.points, 0);
  const lowest = Math.min(...categories.map((c) => c.score));
  const band: RubricBand = total >= 90 && lowest >= 3 ? 'feature-re-entry' : total >= 85 && lowest >= 2 ? 'validation-window' : total >= 80 ? 'hardening-complete' : 'below-hardening';
  return { total, band };
}

/** A drill as the predicate records it. Drills are not run yet; this is the shape they will have. */
export interface DrillRecord {
  name: string;
  completedAt: string;
  status: string;
}

/** The well-formed drill records of a predicate; anything else in `drills` is ignored (and so never counts). */
export function drillsOf(p: EvidencePredicate): DrillRecord[] {
  return (p.drills ?? []).filter(
    (d): d is DrillRecord => !!d && typeof d === 'object' && typeof (d as DrillRecord).name === 'string' && typeof (d as DrillRecord).completedAt === 'string' && typeof (d as DrillRecord).status === 'string',
  );
}

export const DRILL_PASSED = new Set(['passed', 'ok']);

/** The newest passing record of a drill among the runs, if any. */
export function latestPassingDrill(runs: EvidencePredicate[], name: string): DrillRecord | undefined {
  return runs
    .flatMap(drillsOf)
    .filter((d) => d.name === name && DRILL_PASSED.has(d.status) && !Number.isNaN(Date.parse(d.completedAt)))
    .sort((a, b) => Date.parse(b.completedAt) - Date.parse(a.completedAt))[0];
}

function scenarioStatuses(runs: EvidencePredicate[]): string[] {
  return runs.flatMap((r) => (r.scenarios ?? []).map((s) => (s && typeof s === 'object' ? String((s as { status?: unknown }).status) : 'unknown')));
}

const inSuites = (suite: string, prefixes: string[]) => prefixes.some((p) => suite.startsWith(p));

/** How many of the most recent runs (that ran the smoke suite) failed it, in a row. */
export function smokeFailureStreak(runs: EvidencePredicate[], smokeSuites: string[]): number {
  let streak = 0;
  for (const run of recentRuns(runs, Number.MAX_SAFE_INTEGER)) {
    const smoke = run.checks.filter((c) => inSuites(c.suite, smokeSuites) && c.state !== 'skipped');
    if (smoke.length === 0) continue;
    if (!smoke.some((c) => c.state === 'failed')) break;
    streak++;
  }
  return streak;
}

export interface RubricInputs {
  /** Verified `--evidence` predicates. */
  evidence: EvidencePredicate[];
  /** Verified history predicates. */
  history: EvidencePredicate[];
  policy: ResolvedGatePolicy;
  stage: StagePolicy;
  /** Findings of the evidence that no unexpired waiver covers. */
  openFindings: Finding[];
  /** Waivers in the file that have expired at `now`. */
  expiredWaivers: number;
  now: Date;
}

const ratioScore = (num: number, den: number) => (den > 0 ? Math.floor((4 * num) / den + 1e-9) : 0);
const pct = (num: number, den: number) => `${num}/${den}`;

/**
 * Scores the rubric. Deterministic: the same evidence, history, policy,
 * waivers and `now` always give the same table (see docs/rubric.md).
 */
export function scoreRubric(inp: RubricInputs): Rubric {
  const { evidence, history, policy, stage, now } = inp;
  const all = [...evidence, ...history];
  const checks = evidence.flatMap((p) => p.checks);
  const measurements = evidence.flatMap((p) => p.measurements);
  const scores = {} as Record<RubricCategoryId, { score: number; basis: string }>;

  // Measurement completeness: declared SLOs with a measurement in the evidence.
  const measured = policy.slos.filter((id) => measurements.some((m) => m.slo === id));
  scores.measurement = {
    score: ratioScore(measured.length, policy.slos.length),
    basis: policy.slos.length ? `${pct(measured.length, policy.slos.length)} declared SLOs measured` : 'the policy declares no SLO',
  };

  // Reliability outcomes: mean of (scenarios ok / scenarios) and (measurements passing / measurements), over the parts present.
  const statuses = scenarioStatuses(evidence);
  const parts: number[] = [];
  if (statuses.length) parts.push(statuses.filter((s) => s === 'ok').length / statuses.length);
  if (measurements.length) parts.push(measurements.filter((m) => m.pass).length / measurements.length);
  const reliability = parts.length ? parts.reduce((a, b) => a + b, 0) / parts.length : 0;
  scores.reliability = {
    score: Math.floor(4 * reliability + 1e-9),
    basis: parts.length
      ? `scenarios ok ${pct(statuses.filter((s) => s === 'ok').length, statuses.length)}, SLOs passing ${pct(measurements.filter((m) => m.pass).length, measurements.length)}`
      : 'no scenario journal and no SLO measurement in the evidence',
  };

  // Test and CI strength: one point each.
  const ran = checks.filter((c) => c.state !== 'skipped');
  const failed = checks.filter((c) => c.state === 'failed');
  const skipped = checks.length - ran.length;
  const suitesPerRun = evidence.every((p) => {
    const suites = new Set(p.checks.filter((c) => c.state !== 'skipped').map((c) => c.suite));
    return [...suites].some((s) => inSuites(s, policy.smokeSuites)) && [...suites].some((s) => !inSuites(s, policy.smokeSuites));
  });
  const window = recentRuns(all);
  const flaky: FlakyCheck[] = flakyChecks(all);
  const testing = [
    ran.length > 0 && failed.length === 0,
    skipped === 0 && checks.length > 0,
    evidence.length > 0 && suitesPerRun,
    window.length >= MIN_FLAKE_HISTORY && flaky.length === 0,
  ];
  scores.testing = {
    score: testing.filter(Boolean).length,
    basis: `checks failed ${failed.length}/${checks.length}, skipped ${skipped}, smoke + another suite in every run: ${suitesPerRun && evidence.length > 0 ? 'yes' : 'no'}, flaky ${flaky.length} over ${window.length} runs`,
  };

  // Security and abuse resistance: no open critical (1), no open high (1), suite coverage floor(2 × covered / 5).
  const openCritical = inp.openFindings.filter((f) => f.severity === 'critical').length;
  const openHigh = inp.openFindings.filter((f) => f.severity === 'high').length;
  const covered = SECURITY_SUITES.filter((fam) => ran.some((c) => c.suite.includes(`suites/${fam}/`)));
  scores.security = {
    score: (openCritical === 0 ? 1 : 0) + (openHigh === 0 ? 1 : 0) + Math.floor((2 * covered.length) / SECURITY_SUITES.length),
    basis: `open critical ${openCritical}, open high ${openHigh}, suites covered ${pct(covered.length, SECURITY_SUITES.length)} (${covered.join(', ') || 'none'})`,
  };

  // Operability and incident readiness: drills fresh floor(2 × fresh / declared), no incident (1), a chaos scenario ok (1).
  const drills = new Map<string, number>();
  for (const s of GATE_STAGES) {
    for (const [name, age] of Object.entries(policy.stages[s]?.drills ?? {})) {
      const ms = parseDuration(age)!;
      drills.set(name, Math.min(ms, drills.get(name) ?? Infinity));
    }
  }
  const freshDrills = [...drills].filter(([name, maxAge]) => {
    const d = latestPassingDrill(all, name);
    return d !== undefined && freshness(d.completedAt, maxAge, now).fresh;
  });
  const incidents = evidence.reduce((n, p) => n + p.incidents.length, 0);
  const chaosOk = scenarioStatuses(all).includes('ok');
  scores.operability = {
    score: (drills.size ? Math.floor((2 * freshDrills.length) / drills.size) : 0) + (incidents === 0 && evidence.length > 0 ? 1 : 0) + (chaosOk ? 1 : 0),
    basis: `drills passed and fresh ${pct(freshDrills.length, drills.size)}, incidents ${incidents}, a chaos scenario ok: ${chaosOk ? 'yes' : 'no'}`,
  };

  // Delivery discipline: fresh evidence, configured key, no expired waiver, clean tree; one point each.
  const maxAge = parseDuration(stage.maxEvidenceAge)!;
  const fresh = evidence.length > 0 && evidence.every((p) => freshness(p.finishedAt, maxAge, now).fresh);
  const configured = evidence.length > 0 && evidence.every((p) => p.signer.trust === 'configured');
  const clean = evidence.length > 0 && evidence.every((p) => !p.source.dirty);
  scores.delivery = {
    score: [fresh, configured, inp.expiredWaivers === 0, clean].filter(Boolean).length,
    basis: `evidence fresh: ${fresh ? 'yes' : 'no'}, configured key: ${configured ? 'yes' : 'no'}, expired waivers ${inp.expiredWaivers}, clean tree: ${clean ? 'yes' : 'no'}`,
  };

  const table = rubricTotal(Object.fromEntries(Object.entries(scores).map(([k, v]) => [k, v.score])) as Record<RubricCategoryId, number>);
  const categories = table.categories.map((c) => ({ ...c, basis: scores[c.id].basis }));

  const noGoReasons: string[] = [];
  for (const f of inp.openFindings.filter((x) => x.severity === 'critical')) noGoReasons.push(`open critical finding ${f.id} (${f.check}) on ${f.subject}: ${f.title}`);
  const streak = smokeFailureStreak(all, policy.smokeSuites);
  if (streak >= SMOKE_FAILURE_LIMIT) noGoReasons.push(`the smoke suite failed in the last ${streak} runs in a row (limit ${SMOKE_FAILURE_LIMIT - 1}); fix the stack before anything else`);
  return { categories, total: table.total, band: table.band, noGo: noGoReasons.length > 0, noGoReasons };
}

/** Severity order for sorting findings, worst first. */
export const bySeverity = (a: Finding, b: Finding) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || a.id.localeCompare(b.id);
