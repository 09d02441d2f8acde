import type { EvidenceFailureCode } from '../evidence/dsse.ts';
import type { EvidencePredicate } from '../evidence/statement.ts';
import type { VerifyResult } from '../evidence/verify.ts';
import { SEVERITY_RANK, type Finding } from '../run/result.ts';
import { flakyChecks, type FlakyCheck, type HistoryEntry } from './flake.ts';
import { formatAge, freshness, parseDuration } from './freshness.ts';
import type { GateStage, ResolvedGatePolicy, StagePolicy } from './policy.ts';
import { bySeverity, drillsOf, DRILL_PASSED, latestPassingDrill, scoreRubric, type Rubric } from './rubric.ts';
import { activeWaiverFor, describeWaiver, isExpired, waiverMatches, type LoadedWaiver } from './waivers.ts';

/** Why a gate blocks: the nine evidence verification classes, and what the gate itself adds. */
export type GateReasonCode =
  | EvidenceFailureCode
  | 'BW_GATE_STALE'
  | 'BW_GATE_TIER_MISSING'
  | 'BW_GATE_DRILL_MISSING'
  | 'BW_GATE_DRILL_STALE'
  | 'BW_GATE_NOT_SEALED'
  | 'BW_GATE_INCONCLUSIVE'
  | 'BW_GATE_RUN_ERROR'
  | 'BW_GATE_CHECK_FAILED'
  | 'BW_GATE_FINDING'
  | 'BW_GATE_SLO_MISSING'
  | 'BW_GATE_SLO_FAILED'
  | 'BW_GATE_NO_GO';

export interface GateReason {
  code: GateReasonCode;
  /** One line that names the subject, the limit and the fix. */
  message: string;
}

export interface WaivedFinding {
  id: string;
  check: string;
  severity: Finding['severity'];
  subject: string;
  /** Index of the waiver in its file. */
  waiver: number;
  owner: string;
  approver: string;
  expires: string;
  reason: string;
}

export interface ExpiredWaiver {
  waiver: number;
  selects: string;
  owner: string;
  approver: string;
  expires: string;
  reason: string;
  /** Ids of findings in the evidence it would have waived. */
  matches: string[];
}

export interface GateDecision {
  verdict: 'PROMOTE' | 'BLOCKED';
  stage: GateStage;
  reasons: GateReason[];
  waived: WaivedFinding[];
  expiredWaivers: ExpiredWaiver[];
  rubric: Rubric;
  flaky: FlakyCheck[];
  /** Things worth knowing that do not block, e.g. ignored history files. */
  notes: string[];
}

export interface GateInputs {
  stage: GateStage;
  policy: ResolvedGatePolicy;
  /** Each `--evidence` file with the result of verifyEvidence() on it. */
  evidence: { file: string; result: VerifyResult }[];
  /** Verified past runs (`--history`). */
  history?: HistoryEntry[];
  historyNotes?: string[];
  waivers?: LoadedWaiver[];
  /** The gate's clock: every freshness and expiry decision is taken against it. */
  now: Date;
}

/**
 * The gate's decision, pure: from verified evidence, the stage's policy,
 * waivers, history and a clock to PROMOTE or BLOCKED with one line per reason.
 * Fails closed: evidence that did not verify, evidence of mixed commits, stale
 * evidence, a required tier or drill that is missing or stale, a run that
 * errored, a check that failed without a finding, an open finding above the
 * stage's severity, a required SLO missing or failing, and a rubric no-go all block.
 */
export function decideGate(inp: GateInputs): GateDecision {
  const { stage, policy, now } = inp;
  const sp: StagePolicy = policy.stages[stage]!;
  const waivers = inp.waivers ?? [];
  const history = (inp.history ?? []).map((h) => h.predicate);
  const reasons: GateReason[] = [];
  const block = (code: GateReasonCode, message: string) => reasons.push({ code, message });

  const verified: { file: string; p: EvidencePredicate }[] = [];
  for (const e of inp.evidence) {
    if (e.result.ok) verified.push({ file: e.file, p: e.result.statement.predicate as EvidencePredicate });
    else block(e.result.code, e.result.reason);
  }
  const allVerified = reasons.length === 0;
  if (inp.evidence.length === 0) block('BW_EVIDENCE_MISSING', 'no evidence was given; pass each required tier\'s evidence.dsse.json with --evidence');

  const commits = [...new Set(verified.map((v) => v.p.source.commit))];
  if (commits.length > 1) {
    const [a, b] = [verified[0]!, verified.find((v) => v.p.source.commit !== verified[0]!.p.source.commit)!];
    block('BW_EVIDENCE_SUBJECT', `${a.file} is evidence for commit ${a.p.source.commit.slice(0, 12)} but ${b.file} is for ${b.p.source.commit.slice(0, 12)}; a gate decides one commit: pass evidence of the same commit`);
  }

  // Freshness of each evidence file.
  const maxAge = parseDuration(sp.maxEvidenceAge)!;
  for (const { file, p } of verified) {
    const f = freshness(p.finishedAt, maxAge, now);
    if (f.fresh) continue;
    if (f.why === 'future') block('BW_GATE_STALE', `${file}: ${p.tier} run ${p.runId} finished at ${p.finishedAt}, ${formatAge(-f.ageMs)} after the gate's clock (${now.toISOString()}); check the clocks and run the tier again`);
    else block('BW_GATE_STALE', `${file}: ${p.tier} run ${p.runId} finished ${formatAge(f.ageMs)} ago (${p.finishedAt}), older than the ${stage} stage's ${sp.maxEvidenceAge} limit; run the ${p.tier} tier again`);
  }

  // A stage that requires sealed runs takes no evidence of a run that could reach the network.
  if (sp.network === 'sealed') {
    for (const { file, p } of verified) {
      if (p.network?.mode === 'sealed') continue;
      const how = p.network ? `on the host network (${p.network.reason ?? 'no reason recorded'})` : 'without recording its network (evidence from before sealed runs)';
      block('BW_GATE_NOT_SEALED', `${file}: the ${p.tier} run ${p.runId} ran ${how}; the ${stage} stage requires sealed runs: run the local provider where network namespaces work (root, or unprivileged user namespaces) without --network host`);
    }
  }

  // Inconclusive cases: not passes. The pr stage allows none unless its policy says otherwise.
  const maxInconclusive = sp.maxInconclusive ?? (stage === 'pr' ? 0 : Infinity);
  const unjudged = verified.flatMap(({ p }) => p.checks.filter((c) => c.inconclusive?.cases));
  const inconclusiveCases = unjudged.reduce((n, c) => n + c.inconclusive!.cases, 0);
  if (inconclusiveCases > maxInconclusive) {
    const whole = unjudged.filter((c) => c.inconclusive!.conclusive === 0);
    const named = unjudged.slice(0, 3).map((c) => `${c.name} (${c.inconclusive!.reasons.join('; ')})`).join(', ');
    block(
      'BW_GATE_INCONCLUSIVE',
      `${inconclusiveCases} inconclusive case(s) in ${unjudged.length} check(s)${whole.length ? `, ${whole.length} of them fully inconclusive` : ''}: ${named}${unjudged.length > 3 ? ', …' : ''}; the ${stage} stage allows ${maxInconclusive}: run again when the target is not rate-limiting or failing, or raise maxInconclusive`,
    );
  }

  // Required tiers. Evidence that failed to verify has no tier we may trust, so only judge tiers when all of it verified.
  if (allVerified && inp.evidence.length > 0) {
    const present = new Set(verified.map((v) => v.p.tier));
    for (const tier of sp.tiers) {
      if (present.has(tier)) continue;
      block('BW_GATE_TIER_MISSING', `no ${tier} tier evidence: the ${stage} stage requires ${sp.tiers.join(', ')} (given: ${[...present].join(', ') || 'none'}); run \`breakwater run --tier ${tier}\` and pass its evidence.dsse.json`);
    }
  }

  // Drills, from the evidence and the history.
  const runs = [...verified.map((v) => v.p), ...history];
  for (const [name, age] of Object.entries(sp.drills ?? {})) {
    const latest = latestPassingDrill(runs, name);
    if (!latest) {
      const tried = runs.flatMap(drillsOf).filter((d) => d.name === name && !DRILL_PASSED.has(d.status));
      const last = tried.sort((a, b) => Date.parse(b.completedAt) - Date.parse(a.completedAt))[0];
      block('BW_GATE_DRILL_MISSING', `no passing ${name} drill in the evidence or history${last ? ` (the latest ended "${last.status}" at ${last.completedAt})` : ''}; the ${stage} stage requires one within ${age}: run the drill tier and pass its evidence`);
      continue;
    }
    const f = freshness(latest.completedAt, parseDuration(age)!, now);
    if (!f.fresh) {
      const when = f.why === 'future' ? `at ${latest.completedAt}, after the gate's clock` : `${formatAge(f.ageMs)} ago (${latest.completedAt})`;
      block('BW_GATE_DRILL_STALE', `the latest passing ${name} drill completed ${when}, older than the ${stage} stage's ${age} limit; run the ${name} drill again`);
    }
  }

  // Runs that errored, and checks that failed without saying why.
  for (const { file, p } of verified) {
    if (p.verdict === 'error') block('BW_GATE_RUN_ERROR', `${file}: the ${p.tier} run ${p.runId} ended in error (${p.reasons[0] ?? 'no reason recorded'}); fix the stack and run it again`);
    for (const c of p.checks) {
      if (c.state === 'failed' && c.findings === 0) block('BW_GATE_CHECK_FAILED', `${file}: check "${c.name}" failed without a finding (${c.error ?? 'no error recorded'}); a failing check blocks until it passes`);
    }
  }

  // Findings above the stage's severity, unless an unexpired waiver covers them.
  const findings = new Map<string, Finding>();
  for (const { p } of verified) for (const f of p.findings) if (!findings.has(f.id) || SEVERITY_RANK[f.severity] > SEVERITY_RANK[findings.get(f.id)!.severity]) findings.set(f.id, f);
  const limit = sp.maxSeverity === 'none' ? -1 : SEVERITY_RANK[sp.maxSeverity];
  const waived: WaivedFinding[] = [];
  const open: Finding[] = [];
  const blocking = new Set<string>();
  for (const f of [...findings.values()].sort(bySeverity)) {
    const w = activeWaiverFor(waivers, f, now);
    if (w) {
      if (SEVERITY_RANK[f.severity] > limit) waived.push({ id: f.id, check: f.check, severity: f.severity, subject: f.subject, waiver: w.index, owner: w.owner, approver: w.approver, expires: w.expires, reason: w.reason });
      continue;
    }
    open.push(f);
    if (SEVERITY_RANK[f.severity] <= limit) continue;
    blocking.add(f.id);
    const lapsed = waivers.find((x) => isExpired(x, now) && waiverMatches(x, f));
    const hint = lapsed ? `its waiver #${lapsed.index} expired ${lapsed.expires}; renew it or fix the finding` : 'fix it, or waive it with an owner, an approver and an expiry';
    block('BW_GATE_FINDING', `${f.severity} finding ${f.id} (${f.check}) on ${f.subject}: ${f.title}; the ${stage} stage allows ${sp.maxSeverity === 'none' ? 'no finding' : `findings up to ${sp.maxSeverity}`}: ${hint}`);
  }

  // Required SLOs.
  const measurements = verified.flatMap((v) => v.p.measurements);
  for (const slo of sp.slos ?? []) {
    const ms = measurements.filter((m) => m.slo === slo);
    if (ms.length === 0) {
      block('BW_GATE_SLO_MISSING', `SLO ${slo} has no measurement in the evidence; the ${stage} stage requires it to pass: pass evidence of a tier that measures it`);
      continue;
    }
    const bad = ms.find((m) => !m.pass);
    if (bad) block('BW_GATE_SLO_FAILED', `SLO ${slo} failed: ${bad.value} ${bad.unit} against objective ${bad.objective} (window ${bad.window}); the ${stage} stage requires it to pass`);
  }

  const expiredWaivers: ExpiredWaiver[] = waivers
    .filter((w) => isExpired(w, now))
    .map((w) => ({ waiver: w.index, selects: describeWaiver(w), owner: w.owner, approver: w.approver, expires: w.expires, reason: w.reason, matches: [...findings.values()].filter((f) => waiverMatches(w, f)).map((f) => f.id) }));

  const rubric = scoreRubric({ evidence: verified.map((v) => v.p), history, policy, stage: sp, openFindings: open, expiredWaivers: expiredWaivers.length, now });
  // An open critical finding is a no-go even where the stage allows it; say so once.
  for (const why of rubric.noGoReasons) {
    const id = /^open critical finding (\S+)/.exec(why)?.[1];
    if (id && blocking.has(id)) continue;
    block('BW_GATE_NO_GO', `no-go: ${why}`);
  }

  return {
    verdict: reasons.length ? 'BLOCKED' : 'PROMOTE',
    stage,
    reasons,
    waived,
    expiredWaivers,
    rubric,
    flaky: flakyChecks(runs),
    notes: [...(inp.historyNotes ?? [])],
  };
}
