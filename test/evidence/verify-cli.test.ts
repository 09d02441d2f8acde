import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorLines, hasStackTrace, runCli } from '../helpers/cli.ts';
import { COMMIT, evidenceStatement, signedBytes, tempKeyPair } from '../helpers/evidence.ts';

const dir = mkdtempSync(join(tmpdir(), 'bw-verify-cli-'));
const trusted = tempKeyPair();
const stranger = tempKeyPair();
const good = signedBytes(evidenceStatement(trusted.key), trusted.key);
const text = good.toString();

function file(name: string, content: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function forged(): string {
  const env = JSON.parse(text);
  env.signatures[0].sig = JSON.parse(signedBytes({ other: true }, trusted.key).toString()).signatures[0].sig;
  return JSON.stringify(env);
}

function unknownVersion(): Buffer {
  const st = evidenceStatement(trusted.key);
  (st.predicate as { schemaVersion: number }).schemaVersion = 2;
  return signedBytes(st, trusted.key);
}

/** The nine classes of evidence that fails verification, each with its own code (predicate covers unknown type and version). */
const CASES: { name: string; path: () => string; args?: string[]; code: string; reason: RegExp }[] = [
  { name: 'missing file', path: () => join(dir, 'nope.dsse.json'), code: 'BW_EVIDENCE_MISSING', reason: /does not exist/ },
  { name: 'truncated file', path: () => file('truncated.json', text.slice(0, 200)), code: 'BW_EVIDENCE_TRUNCATED', reason: /is truncated/ },
  { name: 'malformed JSON', path: () => file('malformed.json', `${text}}`), code: 'BW_EVIDENCE_MALFORMED', reason: /is not valid JSON/ },
  { name: 'unsigned', path: () => file('unsigned.json', text.replace(/"signatures":\[.*\]/, '"signatures":[]')), code: 'BW_EVIDENCE_UNSIGNED', reason: /is unsigned/ },
  { name: 'bad signature', path: () => file('badsig.json', forged()), code: 'BW_EVIDENCE_BAD_SIGNATURE', reason: /bad signature/ },
  { name: 'untrusted key', path: () => file('untrusted.json', signedBytes(evidenceStatement(stranger.key), stranger.key)), code: 'BW_EVIDENCE_UNTRUSTED_KEY', reason: /not a trusted key/ },
  { name: 'wrong payload type', path: () => file('ptype.json', signedBytes(evidenceStatement(trusted.key), trusted.key, 'application/json')), code: 'BW_EVIDENCE_PAYLOAD_TYPE', reason: /payload type "application\/json"/ },
  { name: 'unknown predicateType', path: () => file('ptype2.json', signedBytes({ ...evidenceStatement(trusted.key), predicateType: 'https://example.com/x/v9' }, trusted.key)), code: 'BW_EVIDENCE_PREDICATE', reason: /predicate type "https:\/\/example.com\/x\/v9"/ },
  { name: 'unknown schemaVersion', path: () => file('v2.json', unknownVersion()), code: 'BW_EVIDENCE_PREDICATE', reason: /schemaVersion 2/ },
  { name: 'commit mismatch', path: () => file('good.json', good), args: ['--commit', 'b'.repeat(40)], code: 'BW_EVIDENCE_SUBJECT', reason: /is evidence for commit aaaaaaaaaaaa, not b{40}/ },
];

describe('breakwater verify', () => {
  it('prints the verdict in one line and exits 0', async () => {
    const r = await runCli(['verify', file('ok.json', good), '--key', trusted.public, '--commit', COMMIT]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`verified: pr run pr-20260101T000000-abcdef of ${COMMIT}, 0 findings, signed by ${trusted.key.keyid}\n`);
  });

  it.concurrent.each(CASES)('$name: one line, its own code, exit 1', async (c) => {
    const r = await runCli(['verify', c.path(), '--key', trusted.public, ...(c.args ?? [])]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = errorLines(r.stderr);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(c.reason);
    expect(lines[0]).toMatch(new RegExp(`\\[${c.code}\\]$`));
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it('gives each of the nine failure classes a distinct code', () => {
    expect(new Set(CASES.map((c) => c.code)).size).toBe(9);
  });

  it('usage errors exit 2 in one line: no --key, a private key as --key, a bad --commit', async () => {
    const p = file('usage.json', good);
    for (const [args, msg] of [
      [['verify', p], /required option '-k, --key <pub\.\.\.>' not specified/],
      [['verify', p, '--key', trusted.private], /is a private key; pass the public key.*\[BW_KEY_INVALID\]/],
      [['verify', p, '--key', join(dir, 'missing.pem')], /does not exist.*\[BW_KEY_INVALID\]/],
      [['verify', p, '--key', trusted.public, '--commit', 'main'], /--commit "main" is not a commit id/],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(errorLines(r.stderr)).toHaveLength(1);
      expect(errorLines(r.stderr)[0]).toMatch(msg);
    }
  });
});
