import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evidenceStatement, fakeRun, finding, signedBytes, tempKeyPair } from '../helpers/evidence.ts';

const SCRIPT = join(import.meta.dirname, 'verify_dsse.py');
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const hasPython = !python.error && python.status === 0;

/** Runs securesystemslib's DSSE Envelope.verify on an envelope file. */
function sslibVerify(envelope: string, publicKey: string): { status: number | null; out: string } {
  const r = spawnSync('python3', [SCRIPT, envelope, publicKey], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

// An implementation we did not write: securesystemslib (installed by .ci/run).
describe.skipIf(!hasPython)('independent verification with securesystemslib (skipped: python3 is not installed)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-interop-'));
  const { key, public: pub } = tempKeyPair();
  const stranger = tempKeyPair();
  const good = signedBytes(evidenceStatement(key, fakeRun({ findings: [finding('authz.matrix', 'GET /x')] })), key);
  const file = (name: string, bytes: Uint8Array | string) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  it('securesystemslib is importable (pip install from .ci/run)', () => {
    const r = spawnSync('python3', ['-c', 'import securesystemslib.dsse, cryptography; print(securesystemslib.__version__)'], { encoding: 'utf8' });
    expect(r.status, `securesystemslib missing: run python3 -m pip install 'securesystemslib[crypto]==1.6.0' (see .ci/run)\n${r.stderr}`).toBe(0);
  });

  it('verifies our envelope with our public key PEM and derives the same keyid', () => {
    const r = sslibVerify(file('good.json', good), pub);
    expect(r).toEqual({ status: 0, out: `verified ${key.keyid}` });
  });

  it('rejects a tampered payload, a flipped signature bit, and a key that did not sign', () => {
    const env = JSON.parse(good.toString());
    const payload = Buffer.from(env.payload, 'base64');
    payload[payload.length >> 1] ^= 0x20;
    const tamperedPayload = { ...env, payload: payload.toString('base64') };
    const sig = Buffer.from(env.signatures[0].sig, 'base64');
    sig[5] ^= 0x01;
    const tamperedSig = { ...env, signatures: [{ ...env.signatures[0], sig: sig.toString('base64') }] };
    expect(sslibVerify(file('payload.json', JSON.stringify(tamperedPayload)), pub)).toMatchObject({ status: 1, out: expect.stringMatching(/^rejected: VerificationError/) });
    expect(sslibVerify(file('sig.json', JSON.stringify(tamperedSig)), pub)).toMatchObject({ status: 1, out: expect.stringMatching(/^rejected: VerificationError/) });
    expect(sslibVerify(file('good2.json', good), stranger.public)).toMatchObject({ status: 1, out: expect.stringMatching(/^rejected: VerificationError/) });
  });
});
