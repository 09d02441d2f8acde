import { resolve } from 'node:path';
import pc from 'picocolors';
import { BreakwaterError, EXIT } from '../errors.ts';
import { loadPublicKey } from '../evidence/keys.ts';
import { verifyEvidence } from '../evidence/verify.ts';
import { FLAKE_THRESHOLD, FLAKE_WINDOW, loadHistory, type History } from '../gate/flake.ts';
import { decideGate, type GateDecision } from '../gate/gate.ts';
import { loadGatePolicy, stagePolicy, type GateStage } from '../gate/policy.ts';
import { BAND_TEXT } from '../gate/rubric.ts';
import { loadWaivers, type LoadedWaiver } from '../gate/waivers.ts';

export interface GateCommandOptions {
  stage: GateStage;
  evidence: string[];
  policy: string;
  key: string[];
  commit?: string;
  waivers?: string;
  history?: string;
  json?: boolean;
  /** Hidden: the gate's clock, for tests. */
  now?: string;
}

function parseNow(now: string | undefined): Date {
  if (now === undefined) return new Date();
  const t = Date.parse(now);
  if (!/^\d{4}-\d{2}-\d{2}/.test(now) || Number.isNaN(t)) throw new BreakwaterError('BW_USAGE', `--now "${now.slice(0, 40)}" is not an ISO date-time (e.g. 2026-01-02T00:00:00Z)`);
  return new Date(t);
}

/**
 * `breakwater gate --stage <stage> --evidence <files...> --policy <file> --key <pub...>`:
 * verifies the evidence, applies the stage's policy and the waivers, scores the
 * rubric and prints the verdict. Exit 0 promote, 1 blocked, 2 usage (bad
 * policy, unknown stage, bad waiver file, bad option).
 */
export async function gateCommand(opts: GateCommandOptions): Promise<void> {
  if (opts.commit !== undefined && !/^[0-9a-fA-F]{7,64}$/.test(opts.commit)) {
    throw new BreakwaterError('BW_USAGE', `--commit "${opts.commit.slice(0, 80)}" is not a commit id; pass the full id or at least 7 hex digits (git rev-parse HEAD)`);
  }
  const now = parseNow(opts.now);
  // Every usage error surfaces before any evidence is judged.
  const policy = await loadGatePolicy(opts.policy);
  stagePolicy(policy, opts.stage);
  const publicKeys = opts.key.map((k) => loadPublicKey(k));
  const waivers: LoadedWaiver[] = opts.waivers ? loadWaivers(opts.waivers) : [];
  const history: History = opts.history ? loadHistory(opts.history, publicKeys) : { entries: [], notes: [] };

  const evidence = opts.evidence.map((file) => ({ file, result: verifyEvidence(resolve(file), { publicKeys, commit: opts.commit }) }));
  // verifyEvidence names the absolute path; the user's spelling reads better.
  for (const e of evidence) if (!e.result.ok) e.result = { ...e.result, reason: e.result.reason.replace(resolve(e.file), e.file) };

  const decision = decideGate({ stage: opts.stage, policy, evidence, history: history.entries, historyNotes: history.notes, waivers, now });
  process.stdout.write(opts.json ? JSON.stringify(decision) + '\n' : formatDecision(decision));
  process.exitCode = decision.verdict === 'PROMOTE' ? EXIT.pass : EXIT.blocked;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

/** The human verdict: PROMOTE/BLOCKED, one line per reason, waivers, the rubric table and the flaky checks. */
export function formatDecision(d: GateDecision): string {
  const out: string[] = [];
  const head = d.verdict === 'PROMOTE' ? pc.green('PROMOTE') : pc.red('BLOCKED');
  out.push(`Breakwater gate, ${d.stage} stage: ${head}`);
  for (const r of d.reasons) out.push(`  ✗ ${r.message} [${r.code}]`);
  for (const w of d.waived) out.push(`  ~ waived ${w.severity} finding ${w.id} (${w.check}) by waiver #${w.waiver} until ${w.expires}: ${w.reason} (owner ${w.owner}, approved by ${w.approver})`);
  for (const w of d.expiredWaivers) out.push(`  ! expired waiver #${w.waiver} (${w.selects}, owner ${w.owner}) expired ${w.expires}: it waives nothing${w.matches.length ? `; it matches ${w.matches.join(', ')}` : ''}`);
  for (const n of d.notes) out.push(`  ! ${n}`);

  out.push('', 'rubric:');
  const rows = [['category', 'weight', 'score', 'points', 'from'], ...d.rubric.categories.map((c) => [c.name, String(c.weight), `${c.score}/4`, fmt(c.points), c.basis])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => '  ' + r.map((c, i) => (i === 1 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  out.push(line(rows[0]!), ...rows.slice(1).map(line));
  out.push(`  total ${fmt(d.rubric.total)}/100: ${BAND_TEXT[d.rubric.band]}${d.rubric.noGo ? `; NO-GO (${d.rubric.noGoReasons.length} reason${d.rubric.noGoReasons.length > 1 ? 's' : ''})` : ''}`);

  if (d.flaky.length === 0) out.push('', `flaky checks (last ${FLAKE_WINDOW} runs, flagged at ${FLAKE_THRESHOLD * 100} %): none`);
  else {
    out.push('', `flaky checks (last ${FLAKE_WINDOW} runs, flagged at ${FLAKE_THRESHOLD * 100} %):`);
    for (const f of d.flaky) out.push(`  ${(f.rate * 100).toFixed(1)} % (${f.flakyRuns}/${f.runs} runs)  ${f.check}  on ${f.commits.map((c) => c.slice(0, 12)).join(', ')}`);
  }
  return out.join('\n') + '\n';
}
