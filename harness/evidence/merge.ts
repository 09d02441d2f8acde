import { createHash } from 'node:crypto';
import { BreakwaterError } from '../errors.ts';
import { SEVERITY_RANK, type Finding, type Verdict } from '../run/result.ts';
import type { SignerTrust } from './keys.ts';
import { EVIDENCE_PREDICATE_TYPE, STATEMENT_TYPE, subjectOf, type EvidencePredicate, type EvidenceStatement, type ShardRef } from './statement.ts';

/** A verified shard: its statement and the key that signed it. */
export interface EvidencePart {
  /** For messages: the file it came from. */
  name: string;
  statement: EvidenceStatement;
  keyid: string;
}

const FINDING_REASON = /^(critical|high|medium|low) finding /;

function same<T>(parts: EvidencePart[], what: string, pick: (p: EvidencePredicate) => T): void {
  const first = JSON.stringify(pick(parts[0]!.statement.predicate));
  for (const part of parts.slice(1)) {
    const v = JSON.stringify(pick(part.statement.predicate));
    if (v !== first) {
      throw new BreakwaterError('BW_EVIDENCE_MERGE_MISMATCH', `cannot merge ${part.name} with ${parts[0]!.name}: they differ in ${what} (${v.slice(0, 60)} vs ${first.slice(0, 60)}); merge only shards of one run of one commit`);
    }
  }
}

/**
 * Combines the evidence of the shards of one run into one predicate. Parts
 * must agree on commit, tier, target, artifact and flaws. Checks, measurements,
 * incidents and journals are concatenated, findings are united by id, the
 * duration is the span from the first start to the last end, and the verdict
 * is recomputed: blocked if any finding is high or critical, else error if any
 * part errored, else pass. The result is unsigned; the caller signs it.
 */
export function mergeEvidence(parts: EvidencePart[], signer: { trust: SignerTrust; keyid: string }): EvidenceStatement {
  if (parts.length < 2) throw new BreakwaterError('BW_USAGE', `merge needs at least two evidence files (got ${parts.length})`);
  same(parts, 'commit', (p) => p.source.commit);
  same(parts, 'tier', (p) => p.tier);
  same(parts, 'target', (p) => p.target.name);
  same(parts, 'target artifact', (p) => p.artifact.digest);
  same(parts, 'flaws', (p) => [...p.target.flaws].sort());
  const seen = new Map<string, string>();
  for (const part of parts) {
    const id = part.statement.predicate.runId;
    if (seen.has(id)) throw new BreakwaterError('BW_EVIDENCE_MERGE_MISMATCH', `cannot merge: ${part.name} and ${seen.get(id)} are the same run ${id}; pass each shard once`);
    seen.set(id, part.name);
  }

  const preds = parts.map((p) => p.statement.predicate);
  const first = preds[0]!;
  const findings = new Map<string, Finding>();
  for (const p of preds) for (const f of p.findings) if (!findings.has(f.id)) findings.set(f.id, f);
  const allFindings = [...findings.values()];
  const blocking = allFindings.filter((f) => SEVERITY_RANK[f.severity] >= SEVERITY_RANK.high);
  const verdict: Verdict = blocking.length ? 'blocked' : preds.some((p) => p.verdict === 'error') ? 'error' : 'pass';
  const reasons = [
    ...blocking.map((f) => `${f.severity} finding ${f.id}: ${f.title}`),
    ...preds.flatMap((p) => p.reasons.filter((r) => !FINDING_REASON.test(r)).map((r) => `${p.runId}: ${r}`)),
  ];
  const startedAt = new Date(Math.min(...preds.map((p) => Date.parse(p.startedAt))));
  const finishedAt = new Date(Math.max(...preds.map((p) => Date.parse(p.finishedAt))));
  const shards: ShardRef[] = parts.flatMap((part) =>
    part.statement.predicate.shards?.length
      ? part.statement.predicate.shards
      : [{ runId: part.statement.predicate.runId, verdict: part.statement.predicate.verdict, startedAt: part.statement.predicate.startedAt, finishedAt: part.statement.predicate.finishedAt, seeds: part.statement.predicate.seeds, keyid: part.keyid }],
  );
  const runId = `${first.tier}-merged-${createHash('sha256').update(shards.map((s) => s.runId).sort().join('\n')).digest('hex').slice(0, 12)}`;
  const matrices = preds.map((p) => (p as { matrix?: unknown[] }).matrix).filter((m): m is unknown[] => Array.isArray(m));

  // The merged run is only as sealed as its least sealed shard; a shard that did not record it makes the merge unrecorded.
  const { network: _firstNetwork, ...firstRest } = first;
  const unsealed = preds.find((p) => p.network?.mode !== 'sealed');
  const network = !unsealed ? first.network : unsealed.network ? { ...unsealed.network, reason: `${unsealed.runId}: ${unsealed.network.reason ?? 'host network'}` } : undefined;
  const predicate: EvidencePredicate = {
    ...firstRest,
    ...(network ? { network } : {}),
    runId,
    verdict,
    reasons,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    tools: Object.assign({}, ...[...preds].reverse().map((p) => p.tools)),
    checks: preds.flatMap((p) => p.checks),
    findings: allFindings,
    measurements: preds.flatMap((p) => p.measurements),
    incidents: preds.flatMap((p) => p.incidents),
    teardownErrors: preds.flatMap((p) => p.teardownErrors),
    scenarios: preds.flatMap((p) => p.scenarios),
    drills: preds.flatMap((p) => p.drills),
    ...(matrices.length ? { matrix: matrices.flat() } : {}),
    signer,
    source: { commit: first.source.commit, dirty: preds.some((p) => p.source.dirty) },
    shards,
  } as EvidencePredicate;
  return {
    _type: STATEMENT_TYPE,
    subject: subjectOf({ commit: first.source.commit, targetName: first.target.name, artifactDigest: first.artifact.digest }),
    predicateType: EVIDENCE_PREDICATE_TYPE,
    predicate,
  };
}
