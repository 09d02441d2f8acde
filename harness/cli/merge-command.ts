import { resolve } from 'node:path';
import { BreakwaterError } from '../errors.ts';
import { writeSignedStatement } from '../evidence/evidence-writer.ts';
import { loadPrivateKey, loadPublicKey, resolveSigningKey } from '../evidence/keys.ts';
import { mergeEvidence, type EvidencePart } from '../evidence/merge.ts';
import type { EvidenceStatement } from '../evidence/statement.ts';
import { verifyEvidence } from '../evidence/verify.ts';

/**
 * `breakwater merge <evidence...> --key <pub...> --out <file> [--sign-key <file>]`:
 * verifies every shard's evidence (any failure refuses the merge, fail closed),
 * combines them and signs the result with `--sign-key`, else the configured
 * signing key (BREAKWATER_SIGNING_KEY_FILE / BREAKWATER_SIGNING_KEY), else the development key.
 */
export function mergeCommand(files: string[], opts: { key: string[]; out: string; signKey?: string }): void {
  const publicKeys = opts.key.map((k) => loadPublicKey(k));
  const signer = opts.signKey ? loadPrivateKey(opts.signKey) : resolveSigningKey({ rootDir: process.cwd() });
  const out = resolve(opts.out);
  if (files.some((f) => resolve(f) === out)) throw new BreakwaterError('BW_USAGE', `--out ${opts.out} is one of the parts; write the merged evidence to a new file`);
  const parts: EvidencePart[] = files.map((f) => {
    const r = verifyEvidence(f, { publicKeys });
    if (!r.ok) throw new BreakwaterError(r.code, `cannot merge: ${r.reason}`);
    return { name: f, statement: r.statement as EvidenceStatement, keyid: r.keyid };
  });
  const merged = mergeEvidence(parts, { trust: signer.trust, keyid: signer.keyid });
  writeSignedStatement(out, merged, signer);
  const p = merged.predicate;
  const dev = signer.trust === 'development' ? ' (an untrusted development key)' : '';
  process.stdout.write(`merged ${files.length} parts into ${opts.out}: ${p.tier} run ${p.runId} of ${p.source.commit}, ${p.findings.length} findings, verdict ${p.verdict}, signed by ${signer.keyid}${dev}\n`);
}
