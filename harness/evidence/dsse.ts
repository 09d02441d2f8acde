import { sign, verify, type KeyObject } from 'node:crypto';
import type { ErrorCode } from '../errors.ts';
import { keyidOf, type SigningKey } from './keys.ts';

/** The DSSE payload type of an in-toto Statement. */
export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** A DSSE envelope as it is stored: payload and signatures in standard base64. */
export interface Envelope {
  payload: string;
  payloadType: string;
  signatures: { keyid?: string; sig: string }[];
}

/** An envelope whose base64 fields have been decoded; nothing in it is verified yet. */
export interface DecodedEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: { keyid?: string; sig: Buffer }[];
}

export type EvidenceFailureCode = Extract<ErrorCode, `BW_EVIDENCE_${string}`>;
export type Failure = { ok: false; code: EvidenceFailureCode; reason: string };

/**
 * Pre-Authentication Encoding (DSSE v1):
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in bytes as ASCII decimals.
 */
export function pae(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
}

/** Signs `payload` as a one-signature envelope; the signature is ed25519 over the PAE. */
export function signEnvelope(payload: Uint8Array, payloadType: string, key: SigningKey): Envelope {
  const sig = sign(null, pae(payloadType, payload), key.privateKey);
  return { payload: Buffer.from(payload).toString('base64'), payloadType, signatures: [{ keyid: key.keyid, sig: sig.toString('base64') }] };
}

/**
 * The bytes written to disk: compact JSON, no trailing newline. With no
 * insignificant whitespace, every byte of the file is significant, so any
 * single-byte change is a different (and rejected) envelope.
 */
export function serializeEnvelope(env: Envelope): string {
  return JSON.stringify({ payloadType: env.payloadType, payload: env.payload, signatures: env.signatures.map((s) => (s.keyid === undefined ? { sig: s.sig } : { keyid: s.keyid, sig: s.sig })) });
}

// Linear-time shape check (a grouped pattern overflowed the regex stack on multi-MB payloads);
// the round trip below still refuses every non-canonical encoding.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Strict standard base64: only the canonical encoding of some bytes is accepted
 * (Node's decoder silently skips bad characters and ignores unused bits).
 * Breakwater writes standard base64 and reads only that, so an envelope has
 * exactly one encoding; DSSE also allows URL-safe base64, which we deliberately refuse.
 */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || !BASE64.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64');
  return bytes.toString('base64') === s ? bytes : undefined;
}

/** Where a JSON text that failed to parse stops: cut off mid-way (truncated), or wrong inside (malformed). */
function looksTruncated(text: string): boolean {
  const stack: string[] = [];
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') stack.push(c === '{' ? '}' : ']');
    else if (c === '}' || c === ']') {
      if (stack.pop() !== c) return false;
      if (stack.length === 0) return false;
    }
  }
  return inString || stack.length > 0;
}

const fail = (code: EvidenceFailureCode, reason: string): Failure => ({ ok: false, code, reason });

/**
 * Parses envelope bytes with a precise reason for each way they can be wrong:
 * empty or cut off (truncated), not JSON or not a DSSE envelope (malformed,
 * naming the field), or without any signature (unsigned). Signatures are not checked here.
 */
export function parseEnvelope(bytes: Uint8Array | string): { ok: true; envelope: DecodedEnvelope } | Failure {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  if (text.trim() === '') return fail('BW_EVIDENCE_TRUNCATED', 'is empty (the writer was interrupted or the file was cut off)');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    if (looksTruncated(text)) return fail('BW_EVIDENCE_TRUNCATED', `is truncated: its JSON ends after ${Buffer.byteLength(text)} bytes, in the middle of the envelope`);
    return fail('BW_EVIDENCE_MALFORMED', `is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return fail('BW_EVIDENCE_MALFORMED', 'is JSON but not a DSSE envelope (expected an object with payloadType, payload, signatures)');
  const env = raw as Record<string, unknown>;
  for (const k of Object.keys(env)) {
    if (!['payload', 'payloadType', 'signatures'].includes(k)) return fail('BW_EVIDENCE_MALFORMED', `is not a DSSE envelope: unexpected field "${k.slice(0, 40)}"`);
  }
  if (!('payloadType' in env)) return fail('BW_EVIDENCE_MALFORMED', 'is not a DSSE envelope: field "payloadType" is missing');
  if (typeof env.payloadType !== 'string') return fail('BW_EVIDENCE_MALFORMED', 'is not a DSSE envelope: "payloadType" must be a string');
  if (!('payload' in env)) return fail('BW_EVIDENCE_MALFORMED', 'is not a DSSE envelope: field "payload" is missing');
  if (typeof env.payload !== 'string') return fail('BW_EVIDENCE_MALFORMED', 'is not a DSSE envelope: "payload" must be a base64 string');
  const payload = decodeBase64Strict(env.payload);
  if (!payload) return fail('BW_EVIDENCE_MALFORMED', 'is not a DSSE envelope: "payload" is not canonical standard base64');
  if (!('signatures' in env) || (Array.isArray(env.signatures) && env.signatures.length === 0)) {
    return fail('BW_EVIDENCE_UNSIGNED', 'is unsigned: the envelope has no signatures');
  }
  if (!Array.isArray(env.signatures)) return fail('BW_EVIDENCE_MALFORMED', 'is not a DSSE envelope: "signatures" must be an array');
  const signatures: DecodedEnvelope['signatures'] = [];
  for (const [i, s] of env.signatures.entries()) {
    if (!s || typeof s !== 'object' || Array.isArray(s)) return fail('BW_EVIDENCE_MALFORMED', `is not a DSSE envelope: signatures[${i}] must be an object`);
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'keyid' && k !== 'sig') return fail('BW_EVIDENCE_MALFORMED', `is not a DSSE envelope: signatures[${i}] has unexpected field "${k.slice(0, 40)}"`);
    if (o.keyid !== undefined && typeof o.keyid !== 'string') return fail('BW_EVIDENCE_MALFORMED', `is not a DSSE envelope: signatures[${i}].keyid must be a string`);
    if (typeof o.sig !== 'string') return fail('BW_EVIDENCE_MALFORMED', `is not a DSSE envelope: signatures[${i}].sig is missing`);
    const sig = decodeBase64Strict(o.sig);
    if (!sig) return fail('BW_EVIDENCE_MALFORMED', `is not a DSSE envelope: signatures[${i}].sig is not canonical standard base64`);
    signatures.push({ keyid: o.keyid as string | undefined, sig });
  }
  return { ok: true, envelope: { payloadType: env.payloadType, payload, signatures } };
}

/**
 * Checks the envelope's signatures against the trusted public keys (threshold 1).
 * The keyid is only a hint to pick the key (DSSE): a signature whose keyid names
 * no trusted key means an untrusted signer; one whose key is trusted but whose
 * bytes do not verify over the PAE is a bad signature.
 */
export function verifyEnvelopeSignature(env: DecodedEnvelope, publicKeys: KeyObject[]): { ok: true; keyid: string } | Failure {
  const trusted = publicKeys.map((k) => ({ key: k, keyid: keyidOf(k) }));
  const message = pae(env.payloadType, env.payload);
  const untrusted: string[] = [];
  for (const s of env.signatures) {
    const candidates = s.keyid === undefined ? trusted : trusted.filter((t) => t.keyid === s.keyid);
    if (candidates.length === 0) untrusted.push(s.keyid!);
    for (const c of candidates) {
      let good = false;
      try {
        good = verify(null, message, c.key, s.sig);
      } catch {
        good = false;
      }
      if (good) return { ok: true, keyid: c.keyid };
    }
  }
  if (untrusted.length === env.signatures.length) {
    const names = untrusted.map((k) => (k ? k.slice(0, 16) : '(empty)')).join(', ');
    return fail('BW_EVIDENCE_UNTRUSTED_KEY', `is signed by key ${names}, which is not a trusted key (trusted: ${trusted.map((t) => t.keyid.slice(0, 16)).join(', ') || 'none'})`);
  }
  return fail('BW_EVIDENCE_BAD_SIGNATURE', 'has a bad signature: it does not verify over the envelope with the trusted key it names (the evidence was altered or signed wrongly)');
}
