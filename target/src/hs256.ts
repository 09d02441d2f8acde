import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/** Claims of a token whose signature checked out. */
export type Claims = Record<string, unknown>;

/**
 * What `verifyHs256` found: `valid`, `expired` (everything else checks out, only
 * `exp` is past) or `invalid` (anything else).
 */
export type Hs256Result = { status: 'valid' | 'expired'; claims: Claims } | { status: 'invalid' };

const INVALID: Hs256Result = { status: 'invalid' };
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Turns a shared secret into the key `verifyHs256` takes (UTF-8 bytes, as jose's signer uses). */
export function hs256Key(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

/**
 * Verifies a compact HS256 JWT synchronously with node:crypto. It accepts and
 * rejects exactly what jose 6's `jwtVerify(token, key, { algorithms: ['HS256'],
 * requiredClaims: ['sub', 'exp', 'iat'] })` does on Node 20, and reports `expired`
 * where jose throws `JWTExpired`.
 */
export function verifyHs256(token: string, key: KeyObject, nowSeconds = Math.floor(Date.now() / 1000)): Hs256Result {
  const parts = token.split('.');
  if (parts.length !== 3) return INVALID;
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
  const header = decodeJsonObject(encodedHeader);
  if (!header || !acceptableHeader(header)) return INVALID;
  const signature = decodeBase64url(encodedSignature);
  if (!signature || !isAscii(encodedPayload)) return INVALID;
  const expected = createHmac('sha256', key).update(`${encodedHeader}.${encodedPayload}`, 'latin1').digest();
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return INVALID;
  const claims = decodeJsonObject(encodedPayload);
  if (!claims) return INVALID;
  for (const claim of ['iat', 'exp', 'sub']) if (!Object.hasOwn(claims, claim)) return INVALID;
  if (typeof claims.iat !== 'number') return INVALID;
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > nowSeconds)) return INVALID;
  if (typeof claims.exp !== 'number') return INVALID;
  return { status: claims.exp <= nowSeconds ? 'expired' : 'valid', claims };
}

/** alg must be HS256; the only critical extension jose knows is b64, and a JWT must keep it true. */
function acceptableHeader(header: Claims): boolean {
  if (header.alg !== 'HS256') return false;
  const { crit } = header;
  if (crit === undefined) return true;
  if (!Array.isArray(crit) || crit.length === 0) return false;
  return crit.every((p) => p === 'b64') && header.b64 === true;
}

function isAscii(s: string): boolean {
  return !/[^\x00-\x7f]/.test(s);
}

/** Base64url decoding the way jose does it on Node 20 (atob after mapping the alphabet), or null. */
function decodeBase64url(s: string): Buffer | null {
  if (s.includes('+') || s.includes('/')) return null;
  try {
    return Buffer.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), 'latin1');
  } catch {
    return null;
  }
}

function decodeJsonObject(s: string): Claims | null {
  const bytes = decodeBase64url(s);
  if (!bytes) return null;
  try {
    const value: unknown = JSON.parse(strictUtf8.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Claims) : null;
  } catch {
    return null;
  }
}
