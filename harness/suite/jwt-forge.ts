import { createHmac, randomBytes } from 'node:crypto';

/** The two JSON parts of a compact JWS, decoded, and its signature as sent. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signature: string;
}

/** One forged token: the tampering class it belongs to, what was done, and the token. */
export interface ForgedToken {
  variant: string;
  /** What this token is, e.g. `alg "None"` or `without sub`; never the token itself. */
  label: string;
  token: string;
}

const b64url = (bytes: Buffer) => bytes.toString('base64url');
const encodeJson = (value: unknown) => b64url(Buffer.from(JSON.stringify(value), 'utf8'));

function decodeJson(segment: string, what: string): Record<string, unknown> {
  const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`the JWT's ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Decodes a compact JWS (`header.payload.signature`) without verifying it; undefined if it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return { header: decodeJson(parts[0]!, 'header'), payload: decodeJson(parts[1]!, 'payload'), signature: parts[2]! };
  } catch {
    return undefined;
  }
}

/** Signs header and payload with HS256; the key is the shared secret's UTF-8 bytes (what jose and most servers use). */
export function signHs256(header: Record<string, unknown>, payload: Record<string, unknown>, key: string | Buffer): string {
  const input = `${encodeJson({ ...header, alg: 'HS256' })}.${encodeJson(payload)}`;
  return `${input}.${b64url(createHmac('sha256', key).update(input).digest())}`;
}

/** An unsigned token (`x.y.`) whose header says `alg`. */
export function unsignedJwt(alg: string, payload: Record<string, unknown>): string {
  return `${encodeJson({ alg, typ: 'JWT' })}.${encodeJson(payload)}.`;
}

/**
 * The token with the last byte of its signature flipped. Works on the decoded
 * bytes: changing only the last base64url character may touch nothing but its
 * padding bits, which many decoders ignore, and the token would stay valid.
 */
export function flipSignatureByte(token: string): string {
  const dot = token.lastIndexOf('.');
  const sig = Buffer.from(token.slice(dot + 1), 'base64url');
  if (sig.length === 0) return `${token.slice(0, dot)}.${b64url(randomBytes(32))}`;
  sig[sig.length - 1] = sig[sig.length - 1]! ^ 0x01;
  return `${token.slice(0, dot + 1)}${b64url(sig)}`;
}

/**
 * Tokens that need no key: `alg: none` in three spellings, a flipped
 * signature byte, and the same claims signed with a random key.
 */
export function unkeyedVariants(token: string): ForgedToken[] {
  const jwt = decodeJwt(token);
  if (!jwt) throw new Error('not a compact JWS (header.payload.signature)');
  return [
    ...['none', 'None', 'NONE'].map((alg) => ({ variant: 'alg-none', label: `alg "${alg}", empty signature`, token: unsignedJwt(alg, jwt.payload) })),
    { variant: 'bad-signature', label: 'last signature byte flipped', token: flipSignatureByte(token) },
    { variant: 'bad-signature', label: 'signed with a random key', token: signHs256(jwt.header, jwt.payload, randomBytes(32)) },
  ];
}

/**
 * Tokens signed with the target's own key, each with one claim made invalid:
 * expired an hour ago, valid only from an hour from now, or a required claim
 * removed (only claims the original token carries: removing an absent one
 * would leave a valid token). `nowSeconds` is the target's clock.
 */
export function keyedVariants(token: string, key: string, opts: { requiredClaims: string[]; nowSeconds: number }): ForgedToken[] {
  const jwt = decodeJwt(token);
  if (!jwt) throw new Error('not a compact JWS (header.payload.signature)');
  const { header, payload } = jwt;
  const now = opts.nowSeconds;
  const lifetime = typeof payload.exp === 'number' && typeof payload.iat === 'number' && payload.exp > payload.iat ? payload.exp - payload.iat : 900;

  // A token that was valid once: issued two hours ago, expired one hour ago.
  const expired: Record<string, unknown> = { ...payload, exp: now - 3600 };
  if ('iat' in payload) expired.iat = now - 3600 - lifetime;
  if ('nbf' in payload) expired.nbf = expired.iat ?? now - 3600 - lifetime;
  // A token that will be valid in an hour, for its usual lifetime: only nbf makes it invalid now.
  const notYetValid: Record<string, unknown> = { ...payload, nbf: now + 3600, exp: now + 3600 + lifetime };

  const stripped = opts.requiredClaims
    .filter((claim) => claim in payload)
    .map((claim) => {
      const { [claim]: _removed, ...rest } = payload;
      return { variant: 'stripped-claim', label: `without "${claim}"`, token: signHs256(header, rest, key) };
    });

  return [
    { variant: 'expired', label: 'exp one hour ago', token: signHs256(header, expired, key) },
    { variant: 'not-yet-valid', label: 'nbf in one hour', token: signHs256(header, notYetValid, key) },
    ...stripped,
  ];
}

/** Junk where a token or session value belongs: a word, nothing, and random base64. */
export function garbageTokens(): Array<{ label: string; value: string }> {
  return [
    { label: '"not-a-token"', value: 'not-a-token' },
    { label: 'empty', value: '' },
    { label: 'random base64', value: randomBytes(48).toString('base64') },
  ];
}

/** The value with one character in its middle replaced by another of the same class (digit, lower, upper, other). */
export function flipCharacter(value: string): string {
  if (!value) return 'x';
  const i = Math.floor(value.length / 2);
  const c = value[i]!;
  const swap = /[0-9]/.test(c) ? (c === '0' ? '1' : '0') : /[a-z]/.test(c) ? (c === 'a' ? 'b' : 'a') : /[A-Z]/.test(c) ? (c === 'A' ? 'B' : 'A') : c === 'x' ? 'y' : 'x';
  return value.slice(0, i) + swap + value.slice(i + 1);
}
