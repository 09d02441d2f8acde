import type { FastifyInstance } from 'fastify';
import { checkPassword, hashPassword } from '../auth.ts';
import { conflict, HttpError } from '../errors.ts';
import { redisCall } from '../redis.ts';
import type { Services } from '../services.ts';

interface RegisterBody {
  email: string;
  password: string;
  displayName: string;
}

interface LoginBody {
  email: string;
  password: string;
}

const email = { type: 'string', format: 'email', maxLength: 254 } as const;

/** Compared against when the email is unknown, so a miss costs as much time as a wrong password. */
const dummyHash = hashPassword('not-a-real-password');

/** Registration, login (rate-limited per email) and `GET /me`. */
export function registerAuthRoutes(app: FastifyInstance, s: Services): void {
  app.post<{ Body: RegisterBody }>(
    '/auth/register',
    {
      schema: {
        tags: ['auth'],
        security: [],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'password', 'displayName'],
          properties: {
            email,
            password: { type: 'string', minLength: 8, maxLength: 128 },
            displayName: { type: 'string', minLength: 1, maxLength: 100 },
          },
        },
      },
    },
    async (req, reply) => {
      const hash = await hashPassword(req.body.password);
      const { rows } = await s.db.query<{ id: string }>(
        `INSERT INTO users (email, password_hash, display_name) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING RETURNING id`,
        [req.body.email.trim().toLowerCase(), hash, req.body.displayName],
      );
      if (!rows[0]) throw conflict('an account with this email already exists');
      return reply.status(201).send({ userId: rows[0].id });
    },
  );

  app.post<{ Body: LoginBody }>(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        security: [],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'password'],
          properties: { email: { type: 'string', minLength: 1, maxLength: 254 }, password: { type: 'string', minLength: 1, maxLength: 128 } },
        },
      },
    },
    async (req) => {
      const address = req.body.email.trim().toLowerCase();
      await limitLogin(s, address);
      const { rows } = await s.db.query<{ id: string; password_hash: string | null; suspended: boolean }>(
        `SELECT id, password_hash, suspended FROM users WHERE email = $1 AND kind = 'user'`,
        [address],
      );
      const user = rows[0];
      const ok = await checkPassword(req.body.password, user ? user.password_hash : await dummyHash);
      if (!user || !ok || user.suspended) throw new HttpError(401, 'invalid_credentials', 'email or password is wrong');
      return { accessToken: await s.auth.issue(user.id), tokenType: 'Bearer', expiresIn: s.config.tokenTtlSeconds, userId: user.id };
    },
  );

  app.get('/me', { schema: { tags: ['auth'] } }, async (req) => {
    const principal = await app.authenticate(req);
    const [user, tenants] = await Promise.all([
      s.db.query<{ email: string | null; display_name: string; kind: string }>('SELECT email, display_name, kind FROM users WHERE id = $1', [principal.userId]),
      s.db.query<{ tenant_id: string; role: string }>('SELECT tenant_id, role FROM tenant_members WHERE user_id = $1 ORDER BY tenant_id', [principal.userId]),
    ]);
    const row = user.rows[0]!;
    return {
      userId: principal.userId,
      email: row.email,
      displayName: row.display_name,
      kind: row.kind,
      tenants: tenants.rows
        .filter((t) => principal.kind === 'user' || t.tenant_id === principal.botTenantId)
        .map((t) => ({ tenantId: t.tenant_id, role: t.role })),
    };
  });
}

/**
 * Fixed one-minute window per lowercased email: the key names the minute, so a
 * lost EXPIRE can never lock an address out for longer than that minute.
 */
async function limitLogin(s: Services, address: string): Promise<void> {
  const minute = Math.floor(Date.now() / 60_000);
  const key = `bw:login:${minute}:${address}`;
  const results = await redisCall(() => s.redis.multi().incr(key).expire(key, 60).exec());
  const count = Number(results?.[0]?.[1] ?? 0);
  if (count <= s.config.loginPerMinute) return;
  s.metrics.rateLimited.inc({ limiter: 'login' });
  const retryAfter = Math.max(1, Math.ceil(((minute + 1) * 60_000 - Date.now()) / 1000));
  throw new HttpError(429, 'rate_limited', `too many login attempts for this email; retry in ${retryAfter} s`, { 'retry-after': String(retryAfter) });
}
