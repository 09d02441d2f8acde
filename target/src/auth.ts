import { randomBytes, scrypt as scryptCb, timingSafeEqual, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { SignJWT, decodeProtectedHeader, decodeJwt, type JWTPayload } from 'jose';
import type { TargetConfig } from './config.ts';
import type { Database } from './db.ts';
import { unauthorized } from './errors.ts';
import { hs256Key, verifyHs256 } from './hs256.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

/** Every scope a token can carry. A user token implicitly holds all of them; a bot token only those it was given. */
export const SCOPES = ['channels:read', 'channels:write', 'messages:read', 'messages:write', 'uploads:read', 'uploads:write', 'realtime'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling: resolved from a verified token and the current user row. */
export interface Principal {
  userId: string;
  kind: 'user' | 'bot';
  /** For bots: the tenant the bot belongs to and its scopes. */
  botTenantId?: string;
  scopes: ReadonlySet<Scope>;
}

/** A token's claims after `Auth.verifyToken`. */
export type VerifiedClaims = JWTPayload & { sub: string };

/** The columns of `users` that authentication reads. */
export interface UserRow {
  id: string;
  kind: 'user' | 'bot';
  suspended: boolean;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function checkPassword(password: string, stored: string | null): Promise<boolean> {
  if (!stored) return false;
  const [scheme, saltB64, keyB64] = stored.split('$');
  if (scheme !== 'scrypt' || !saltB64 || !keyB64) return false;
  const expected = Buffer.from(keyB64, 'base64');
  const actual = await scrypt(password, Buffer.from(saltB64, 'base64'), expected.length);
  return timingSafeEqual(expected, actual);
}

export class Auth {
  readonly #key: Uint8Array;
  readonly #verifyKey: KeyObject;
  constructor(private readonly config: TargetConfig, private readonly db: Database) {
    this.#key = new TextEncoder().encode(config.jwtSecret);
    this.#verifyKey = hs256Key(config.jwtSecret);
  }

  /** Issues an HS256 access token. Bots get their tenant and scopes as claims. */
  async issue(userId: string, extra: { kind?: 'user' | 'bot'; tid?: string; scp?: string[]; ttlSeconds?: number } = {}): Promise<string> {
    const claims: JWTPayload = { kind: extra.kind ?? 'user' };
    if (extra.tid) claims.tid = extra.tid;
    if (extra.scp) claims.scp = extra.scp;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(`${extra.ttlSeconds ?? this.config.tokenTtlSeconds}s`)
      .sign(this.#key);
  }

  /** Verifies signature, algorithm, expiry and not-before, then loads the user. Throws 401 on any failure. */
  async authenticate(token: string | undefined): Promise<Principal> {
    const claims = this.verifyToken(token);
    const { rows } = await this.db.query<UserRow>('SELECT id, kind, suspended FROM users WHERE id = $1', [claims.sub], 'auth-user');
    return this.principal(claims, rows[0]);
  }

  /** The token half of `authenticate`: verifies it without I/O. Throws 401 unless it is good and names a subject. */
  verifyToken(token: string | undefined): VerifiedClaims {
    if (!token) throw unauthorized();
    const payload = this.verify(token);
    if (typeof payload.sub !== 'string') throw unauthorized('invalid token');
    return payload as VerifiedClaims;
  }

  /** The user half of `authenticate`: the principal for verified claims and the subject's current row. Throws 401 when it is missing or suspended. */
  principal(claims: VerifiedClaims, user: UserRow | undefined): Principal {
    if (!user || user.suspended) throw unauthorized('invalid token');
    if (user.kind === 'bot') {
      const scp = Array.isArray(claims.scp) ? (claims.scp as string[]) : [];
      const tid = typeof claims.tid === 'string' ? claims.tid : undefined;
      return { userId: user.id, kind: 'bot', botTenantId: tid, scopes: new Set(scp.filter((s): s is Scope => (SCOPES as readonly string[]).includes(s))) };
    }
    return { userId: user.id, kind: 'user', scopes: new Set(SCOPES) };
  }

  private verify(token: string): JWTPayload {
    const { flaws } = this.config;
    if (flaws.has('jwt-alg-none')) {
      try {
        if (decodeProtectedHeader(token).alg?.toLowerCase() === 'none') return decodeJwt(token);
      } catch {
        throw unauthorized('invalid token');
      }
    }
    const result = verifyHs256(token, this.#verifyKey);
    if (result.status === 'valid') return result.claims;
    if (result.status === 'expired' && flaws.has('expired-token-accepted')) return result.claims;
    throw unauthorized('invalid token');
  }
}

/** Extracts a bearer token from an Authorization header. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return m?.[1];
}
