import { describe, expect, it } from 'vitest';
import { verifyEvidence } from '../../harness/evidence/verify.ts';
import { evidenceStatement, fakeRun, finding, signedBytes, tempKeyPair } from '../helpers/evidence.ts';

/** Deterministic PRNG (mulberry32), so a failing mutation can be reproduced from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('tamper fuzz', () => {
  const { key } = tempKeyPair();
  const other = tempKeyPair().key;
  const run = fakeRun({ verdict: 'blocked', findings: [finding('authz.matrix', 'GET /channels/:id'), finding('isolation.cache', '/me', 'critical')] });
  const good = signedBytes(evidenceStatement(key, run), key);
  const opts = { publicKeys: [key.publicKey] };

  it('the untampered envelope verifies', () => {
    expect(verifyEvidence(good, opts)).toMatchObject({ ok: true });
  });

  it('accepts none of 10,000 single-byte mutations', () => {
    const seed = 20260101;
    const next = rng(seed);
    const accepted: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const at = Math.floor(next() * good.length);
      const to = (good[at]! + 1 + Math.floor(next() * 255)) % 256; // never the same byte
      const bad = Buffer.from(good);
      bad[at] = to;
      if (verifyEvidence(bad, opts).ok) accepted.push(`byte ${at} -> ${to}`);
    }
    expect(accepted, `seed ${seed}`).toEqual([]);
  });

  it('accepts no change to payloadType, keyid, payload or signature', () => {
    const env = JSON.parse(good.toString()) as { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] };
    const sig = env.signatures[0]!;
    const payload = Buffer.from(env.payload, 'base64');
    const variants: Record<string, unknown>[] = [];
    // A "variant" equal to the original (e.g. stripping padding that a payload of 3n bytes does not have) is no tamper.
    const original = JSON.stringify(env);
    const with_ = (over: Partial<typeof env>) => {
      const v = { ...env, ...over };
      if (JSON.stringify(v) !== original) variants.push(v);
    };
    for (const t of ['application/vnd.in-toto+JSON', 'application/json', '', 'application/vnd.in-toto+json ', 'https://breakwater.dev/evidence/v1']) with_({ payloadType: t });
    for (const k of ['', other.keyid, sig.keyid.toUpperCase(), sig.keyid.slice(0, 63), `${sig.keyid}0`]) with_({ signatures: [{ ...sig, keyid: k }] });
    const flipped = Buffer.from(payload);
    for (let i = 0; i < payload.length; i += Math.ceil(payload.length / 200)) {
      flipped[i] ^= 0x01;
      with_({ payload: flipped.toString('base64') });
      flipped[i] ^= 0x01;
    }
    with_({ payload: Buffer.concat([payload, Buffer.from(' ')]).toString('base64') });
    with_({ payload: payload.toString('base64url') });
    with_({ payload: env.payload.replace(/=+$/, '') });
    const sigBytes = Buffer.from(sig.sig, 'base64');
    for (let i = 0; i < sigBytes.length; i++) {
      const s = Buffer.from(sigBytes);
      s[i] ^= 1 << i % 8;
      with_({ signatures: [{ ...sig, sig: s.toString('base64') }] });
    }
    with_({ signatures: [{ ...sig, sig: sigBytes.subarray(0, 63).toString('base64') }] });
    with_({ signatures: [{ ...sig, sig: sigBytes.toString('base64url') }] });
    with_({ signatures: [{ ...sig, sig: '' }] });
    const byOther = JSON.parse(signedBytes(JSON.parse(payload.toString()), other).toString()).signatures[0];
    with_({ signatures: [byOther] });
    with_({ signatures: [{ ...byOther, keyid: sig.keyid }] });
    with_({ signatures: [] });
    const accepted = variants.filter((v) => verifyEvidence(Buffer.from(JSON.stringify(v)), opts).ok);
    expect(variants.length).toBeGreaterThan(250);
    expect(accepted).toEqual([]);
  });
});
