import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeBase64Strict, INTOTO_PAYLOAD_TYPE, pae, parseEnvelope, serializeEnvelope, signEnvelope, verifyEnvelopeSignature } from '../../harness/evidence/dsse.ts';
import { generateKeyPair, keyidOf, parsePrivateKey, parsePublicKey } from '../../harness/evidence/keys.ts';
import { tempKeyPair } from '../helpers/evidence.ts';

/** 32-byte big-endian base64url of a decimal integer, for a JWK coordinate. */
function coord(decimal: string): string {
  return Buffer.from(BigInt(decimal).toString(16).padStart(64, '0'), 'hex').toString('base64url');
}

describe('PAE', () => {
  it('encodes a known input byte for byte', () => {
    expect(pae('application/example', Buffer.from('{}')).toString('latin1')).toBe('DSSEv1 19 application/example 2 {}');
  });

  it('counts bytes, not characters, and keeps an empty body', () => {
    const out = pae('type/é', Buffer.from('ü€'));
    expect(out.equals(Buffer.concat([Buffer.from('DSSEv1 7 type/'), Buffer.from('é'), Buffer.from(' 5 '), Buffer.from('ü€')]))).toBe(true);
    expect(pae('t', Buffer.alloc(0)).toString()).toBe('DSSEv1 1 t 0 ');
  });

  // The test vector of the DSSE protocol (secure-systems-lab/dsse, protocol.md, "Test Vectors").
  const VECTOR = {
    body: 'hello world',
    type: 'http://example.com/HelloWorld',
    pae: 'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    x: '46950820868899156662930047687818585632848591499744589407958293238635476079160',
    y: '5640078356564379163099075877009565129882514886557779369047442380624545832820',
    payload: 'aGVsbG8gd29ybGQ=',
    sig: 'A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==',
  };

  it('matches the DSSE protocol test vector', () => {
    expect(Buffer.from(VECTOR.payload, 'base64').toString()).toBe(VECTOR.body);
    const ours = pae(VECTOR.type, Buffer.from(VECTOR.body));
    expect(ours.equals(Buffer.from(VECTOR.pae, 'latin1'))).toBe(true);
  });

  it('is exactly the bytes the vector signature covers (ECDSA P-256, raw r||s)', () => {
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: coord(VECTOR.x), y: coord(VECTOR.y) }, format: 'jwk' });
    const ours = pae(VECTOR.type, Buffer.from(VECTOR.body));
    expect(verify('sha256', ours, { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(VECTOR.sig, 'base64'))).toBe(true);
    expect(verify('sha256', pae(VECTOR.type, Buffer.from('hello world!')), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(VECTOR.sig, 'base64'))).toBe(false);
  });
});

describe('keys', () => {
  it('derives the keyid from the SPKI DER: stable across exports and reloads, distinct per key', () => {
    const { key, public: pub } = tempKeyPair();
    const again = parsePublicKey(key.publicKey.export({ type: 'spki', format: 'pem' }), 'pem');
    const fromDer = createPublicKey({ key: key.publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' });
    expect(key.keyid).toMatch(/^[0-9a-f]{64}$/);
    expect(keyidOf(again)).toBe(key.keyid);
    expect(keyidOf(fromDer)).toBe(key.keyid);
    expect(keyidOf(createPublicKey(key.privateKey))).toBe(key.keyid);
    expect(pub).toBeTruthy();
    expect(generateKeyPair().keyid).not.toBe(key.keyid);
  });

  it('refuses keys that are not ed25519 and a private key where a public one belongs', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => parsePrivateKey(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), 'rsa.pem')).toThrow(/rsa key; evidence is signed with ed25519/);
    expect(() => parsePublicKey(generateKeyPair().privatePem, 'k.pem')).toThrow(/is a private key; pass the public key/);
    expect(() => parsePrivateKey('not a key', 'x.pem')).toThrow(expect.objectContaining({ code: 'BW_KEY_INVALID' }));
  });
});

describe('envelope', () => {
  const { key } = tempKeyPair();
  const other = tempKeyPair().key;
  const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');

  it('round-trips: signed, serialized, parsed and verified with the signer key', () => {
    const text = serializeEnvelope(signEnvelope(payload, INTOTO_PAYLOAD_TYPE, key));
    expect(text.endsWith('}')).toBe(true);
    expect(text).not.toMatch(/\s/);
    const parsed = parseEnvelope(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.envelope.payload.equals(payload)).toBe(true);
    expect(parsed.envelope.signatures[0]!.keyid).toBe(key.keyid);
    expect(verifyEnvelopeSignature(parsed.envelope, [other.publicKey, key.publicKey])).toEqual({ ok: true, keyid: key.keyid });
    expect(verifyEnvelopeSignature(parsed.envelope, [other.publicKey])).toMatchObject({ ok: false, code: 'BW_EVIDENCE_UNTRUSTED_KEY' });
  });

  it('accepts a signature without keyid (DSSE: keyid is optional) only from a trusted key', () => {
    const env = signEnvelope(payload, INTOTO_PAYLOAD_TYPE, key);
    delete env.signatures[0]!.keyid;
    const parsed = parseEnvelope(serializeEnvelope(env));
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(verifyEnvelopeSignature(parsed.envelope, [key.publicKey])).toMatchObject({ ok: true });
    expect(verifyEnvelopeSignature(parsed.envelope, [other.publicKey])).toMatchObject({ ok: false, code: 'BW_EVIDENCE_BAD_SIGNATURE' });
  });

  it('tells truncated, malformed, incomplete and unsigned envelopes apart', () => {
    const text = serializeEnvelope(signEnvelope(payload, INTOTO_PAYLOAD_TYPE, key));
    const code = (t: string) => {
      const r = parseEnvelope(t);
      return r.ok ? 'ok' : r.code;
    };
    expect(code('')).toBe('BW_EVIDENCE_TRUNCATED');
    expect(code(text.slice(0, text.length / 2))).toBe('BW_EVIDENCE_TRUNCATED');
    expect(code(text.slice(0, -1))).toBe('BW_EVIDENCE_TRUNCATED');
    expect(code('{"payload": oops}')).toBe('BW_EVIDENCE_MALFORMED');
    expect(code('[]')).toBe('BW_EVIDENCE_MALFORMED');
    expect(code('{"payloadType":"x","signatures":[]}')).toBe('BW_EVIDENCE_MALFORMED');
    expect(parseEnvelope('{"payloadType":"x","signatures":[]}')).toMatchObject({ reason: expect.stringContaining('"payload" is missing') });
    expect(code('{"payloadType":"x","payload":""}')).toBe('BW_EVIDENCE_UNSIGNED');
    expect(code('{"payloadType":"x","payload":"","signatures":[]}')).toBe('BW_EVIDENCE_UNSIGNED');
    expect(code('{"payloadType":"x","payload":"","signatures":[{"keyid":"k"}]}')).toBe('BW_EVIDENCE_MALFORMED');
    expect(code(text.replace('"payload"', '"payload","extra":1,"x"'))).toBe('BW_EVIDENCE_MALFORMED');
  });

  it('decodes only canonical standard base64', () => {
    expect(decodeBase64Strict('aGVsbG8=')?.toString()).toBe('hello');
    expect(decodeBase64Strict('')?.length).toBe(0);
    for (const bad of ['aGVsbG9=', 'aGVsbG8', 'aGVs bG8=', 'aGVsbG8==', '-_-_Pj8=', 'aGVsbG8=\n', '@GVsbG8=']) expect(decodeBase64Strict(bad), bad).toBeUndefined();
  });
});
