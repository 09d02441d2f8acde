import { BreakwaterError } from '../errors.ts';
import { loadPublicKey } from '../evidence/keys.ts';
import { EVIDENCE_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE } from '../evidence/statement.ts';
import { describeVerified, verifyEvidence } from '../evidence/verify.ts';

/**
 * `breakwater verify <evidence> --key <pub...> [--commit SHA]`: prints one
 * line, the verdict (exit 0) or the reason it fails (exit 1, fail closed).
 * Reads Breakwater evidence and its test-result statement.
 */
export function verifyCommand(file: string, opts: { key: string[]; commit?: string }): void {
  if (opts.commit !== undefined && !/^[0-9a-fA-F]{7,64}$/.test(opts.commit)) {
    throw new BreakwaterError('BW_USAGE', `--commit "${opts.commit.slice(0, 80)}" is not a commit id; pass the full id or at least 7 hex digits (git rev-parse HEAD)`);
  }
  const publicKeys = opts.key.map((k) => loadPublicKey(k));
  const r = verifyEvidence(file, { publicKeys, commit: opts.commit, predicateTypes: [EVIDENCE_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE] });
  if (!r.ok) throw new BreakwaterError(r.code, r.reason);
  process.stdout.write(describeVerified(r) + '\n');
}
