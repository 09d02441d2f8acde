import { readFileSync, statSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { INTOTO_PAYLOAD_TYPE, parseEnvelope, verifyEnvelopeSignature, type EvidenceFailureCode } from './dsse.ts';
import {
  EVIDENCE_PREDICATE_TYPE,
  PREDICATE_SCHEMAS,
  statementSchema,
  type EvidencePredicate,
  type EvidenceStatement,
  type Statement,
  type TestResultStatement,
} from './statement.ts';

export interface VerifyOptions {
  /** The public keys whose signatures are trusted (at least one must have signed). */
  publicKeys: KeyObject[];
  /** When given, the statement's git commit subject must be this commit (full id, or an abbreviation of 7+ hex digits). */
  commit?: string;
  /** Predicate types accepted; default only Breakwater evidence. */
  predicateTypes?: string[];
}

export type VerifiedStatement = EvidenceStatement | TestResultStatement;

export type VerifyResult =
  | { ok: true; statement: VerifiedStatement; keyid: string; commit: string }
  | { ok: false; code: EvidenceFailureCode; reason: string };

const fail = (code: EvidenceFailureCode, reason: string): VerifyResult => ({ ok: false, code, reason });

function readInput(input: string | Uint8Array): { bytes: Uint8Array; name: string } | VerifyResult {
  if (typeof input !== 'string') return { bytes: input, name: 'evidence' };
  try {
    if (statSync(input).isDirectory()) return fail('BW_EVIDENCE_MISSING', `${input} is a directory; pass the evidence file (<out>/evidence.dsse.json)`);
    return { bytes: readFileSync(input), name: input };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail('BW_EVIDENCE_MISSING', code === 'ENOENT' ? `${input} does not exist; a run writes <out>/evidence.dsse.json` : `${input} cannot be read (${code ?? String(err)})`);
  }
}

/**
 * Verifies signed evidence, failing closed: the DSSE envelope must parse, one
 * of its signatures must verify over the PAE with a trusted public key, the
 * payload type must be in-toto, the statement and its predicate must match the
 * schema this version reads (unknown predicate types and schema versions are
 * refused), and the subject must name the commit (and `opts.commit` when given)
 * and the target artifact the predicate describes. Never throws: every failure
 * is a code and a one-line reason that starts with the input's name.
 */
export function verifyEvidence(input: string | Uint8Array, opts: VerifyOptions): VerifyResult {
  const read = readInput(input);
  if ('ok' in read) return read;
  const r = verifyBytes(read.bytes, opts);
  return r.ok ? r : { ...r, reason: `${read.name} ${r.reason}` };
}

function verifyBytes(bytes: Uint8Array, opts: VerifyOptions): VerifyResult {
  const parsed = parseEnvelope(bytes);
  if (!parsed.ok) return parsed;
  const env = parsed.envelope;
  if (opts.publicKeys.length === 0) return fail('BW_EVIDENCE_UNTRUSTED_KEY', 'cannot be trusted: no public key was given to verify it with');
  const sig = verifyEnvelopeSignature(env, opts.publicKeys);
  if (!sig.ok) return sig;
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {
    return fail('BW_EVIDENCE_PAYLOAD_TYPE', `has payload type "${env.payloadType.slice(0, 80)}", expected "${INTOTO_PAYLOAD_TYPE}"`);
  }
  let json: unknown;
  try {
    json = JSON.parse(env.payload.toString('utf8'));
  } catch {
    return fail('BW_EVIDENCE_MALFORMED', 'is signed but its payload is not JSON, so it is not an in-toto statement');
  }
  const st = statementSchema.safeParse(json);
  if (!st.success) {
    const issue = st.error.issues[0]!;
    return fail('BW_EVIDENCE_PREDICATE', `is not an in-toto Statement v1: ${issue.path.join('.') || 'statement'} ${issue.message}`);
  }
  const statement = st.data as Statement<Record<string, unknown>>;
  const accepted = opts.predicateTypes ?? [EVIDENCE_PREDICATE_TYPE];
  const schema = PREDICATE_SCHEMAS[statement.predicateType];
  if (!schema || !accepted.includes(statement.predicateType)) {
    return fail('BW_EVIDENCE_PREDICATE', `has predicate type "${statement.predicateType.slice(0, 80)}", which this verifier does not accept (accepted: ${accepted.join(', ')})`);
  }
  if (statement.predicateType === EVIDENCE_PREDICATE_TYPE && statement.predicate.schemaVersion !== 1) {
    return fail('BW_EVIDENCE_PREDICATE', `has evidence schemaVersion ${JSON.stringify(statement.predicate.schemaVersion)?.slice(0, 20)}; this verifier reads schemaVersion 1 (upgrade Breakwater to read newer evidence)`);
  }
  const pred = schema.safeParse(statement.predicate);
  if (!pred.success) {
    const issue = pred.error.issues[0]!;
    return fail('BW_EVIDENCE_PREDICATE', `has an invalid predicate: predicate.${issue.path.join('.')} ${issue.message}`);
  }
  const subject = checkSubject(statement, sig.keyid, opts.commit);
  if (!subject.ok) return subject;
  return { ok: true, statement: statement as unknown as VerifiedStatement, keyid: sig.keyid, commit: subject.commit };
}

function checkSubject(statement: Statement<Record<string, unknown>>, keyid: string, expectedCommit?: string): { ok: true; commit: string } | Extract<VerifyResult, { ok: false }> {
  const commits = statement.subject.filter((s) => s.name === 'git+commit');
  const commit = commits[0]?.digest.gitCommit;
  if (commits.length !== 1 || !commit || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) {
    return { ok: false, code: 'BW_EVIDENCE_SUBJECT', reason: 'has no valid git+commit subject (exactly one, with a full gitCommit digest)' };
  }
  const targets = statement.subject.filter((s) => s.name.startsWith('target:'));
  const artifact = targets[0]?.digest.sha256;
  if (targets.length !== 1 || !artifact || !/^[0-9a-f]{64}$/.test(artifact)) {
    return { ok: false, code: 'BW_EVIDENCE_SUBJECT', reason: 'has no valid target artifact subject (exactly one "target:<name>" with a sha256 digest)' };
  }
  if (statement.predicateType === EVIDENCE_PREDICATE_TYPE) {
    const p = statement.predicate as unknown as EvidencePredicate;
    if (p.source.commit !== commit) return { ok: false, code: 'BW_EVIDENCE_SUBJECT', reason: `names commit ${commit.slice(0, 12)} in its subject but ${p.source.commit.slice(0, 12)} in its predicate` };
    if (targets[0]!.name !== `target:${p.target.name}` || p.artifact.digest !== artifact) {
      return { ok: false, code: 'BW_EVIDENCE_SUBJECT', reason: `has a target subject (${targets[0]!.name}) that does not match its predicate (target:${p.target.name}, artifact ${p.artifact.digest.slice(0, 12)})` };
    }
    if (p.signer.keyid !== keyid) {
      return { ok: false, code: 'BW_EVIDENCE_SUBJECT', reason: `claims signer ${p.signer.keyid.slice(0, 16)} in its predicate but was signed by ${keyid.slice(0, 16)}` };
    }
  }
  if (expectedCommit !== undefined) {
    const want = expectedCommit.trim().toLowerCase();
    const matches = want.length === commit.length ? want === commit : want.length >= 7 && /^[0-9a-f]+$/.test(want) && commit.startsWith(want);
    if (!matches) return { ok: false, code: 'BW_EVIDENCE_SUBJECT', reason: `is evidence for commit ${commit.slice(0, 12)}, not ${expectedCommit.slice(0, 40)}` };
  }
  return { ok: true, commit };
}

/** The one-line verdict of a verified statement. */
export function describeVerified(r: Extract<VerifyResult, { ok: true }>): string {
  const s = r.statement;
  if (s.predicateType === EVIDENCE_PREDICATE_TYPE) {
    const p = s.predicate;
    const dev = p.signer.trust === 'development' ? ' (an untrusted development key)' : '';
    return `verified: ${p.tier} run ${p.runId} of ${r.commit}, ${p.findings.length} findings, signed by ${r.keyid}${dev}`;
  }
  const p = s.predicate;
  return `verified: test result ${p.result} of ${r.commit}, ${p.failedTests?.length ?? 0} failed tests, signed by ${r.keyid}`;
}
