import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BreakwaterError } from '../errors.ts';
import type { ArtifactWriter } from '../run/artifacts.ts';
import { artifactDigest, artifactPaths, headCommit, workingTreeDirty } from './artifact-digest.ts';
import { INTOTO_PAYLOAD_TYPE, serializeEnvelope, signEnvelope } from './dsse.ts';
import { resolveSigningKey, type SigningKey } from './keys.ts';
import { buildEvidenceStatement, buildTestResultStatement, type Statement } from './statement.ts';

export const EVIDENCE_FILE = 'evidence.dsse.json';
export const TEST_RESULT_FILE = 'test-result.dsse.json';

/** Signs a statement into a DSSE envelope and writes it atomically: a reader never sees half an envelope. */
export function writeSignedStatement(path: string, statement: Statement, key: SigningKey): void {
  const envelope = signEnvelope(Buffer.from(JSON.stringify(statement), 'utf8'), INTOTO_PAYLOAD_TYPE, key);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, serializeEnvelope(envelope));
  renameSync(tmp, path);
}

/**
 * Signs the run result as an in-toto Statement in a DSSE envelope
 * (`<out>/evidence.dsse.json`, predicate https://breakwater.dev/evidence/v1),
 * and the same run as a standard test-result statement (`<out>/test-result.dsse.json`).
 * The key comes from BREAKWATER_SIGNING_KEY_FILE (what `run --key` sets) or
 * BREAKWATER_SIGNING_KEY, else the project's development key, marked untrusted.
 */
export const evidenceWriter: ArtifactWriter = {
  name: 'evidence',
  async write({ result, outDir, config, redactor }) {
    const commit = headCommit(config.rootDir);
    if (!commit) {
      throw new BreakwaterError('BW_EVIDENCE_WRITE_FAILED', `no git commit at ${config.rootDir}; evidence is about a commit, so run inside a git checkout with at least one commit`);
    }
    const key = resolveSigningKey({ rootDir: config.rootDir });
    const artifact = artifactDigest(config.rootDir, artifactPaths(config));
    const subject = { commit, targetName: config.target.name, artifactDigest: artifact.digest };
    const evidence = buildEvidenceStatement(result, {
      subject,
      dirty: workingTreeDirty(config.rootDir),
      artifact: { paths: artifact.paths, files: artifact.files },
      signer: { trust: key.trust, keyid: key.keyid },
    });
    const configName = relative(config.rootDir, config.configPath) || config.configPath;
    const testResult = buildTestResultStatement(result, subject, { name: configName, sha256: createHash('sha256').update(readFileSync(config.configPath)).digest('hex') });
    const evidencePath = join(outDir, EVIDENCE_FILE);
    const testResultPath = join(outDir, TEST_RESULT_FILE);
    writeSignedStatement(evidencePath, redactor.redactDeep(evidence), key);
    writeSignedStatement(testResultPath, redactor.redactDeep(testResult), key);
    return { evidence: evidencePath, testResult: testResultPath };
  },
};
