import type { FastifyInstance } from 'fastify';
import { SCOPES, type Scope } from '../auth.ts';
import type { Services } from '../services.ts';
import { requireUser } from './guards.ts';
import { idParams, type TenantParams } from './schemas.ts';

/** Bot tokens live this long; a bot is re-created to rotate its token. */
const BOT_TOKEN_TTL_SECONDS = 86_400;

/** `POST /tenants/:tid/bots`: an admin creates a bot user that holds only the scopes it was given, in this tenant only. */
export function registerBotRoutes(app: FastifyInstance, s: Services): void {
  app.post<{ Params: TenantParams; Body: { name: string; scopes: Scope[] } }>(
    '/tenants/:tid/bots',
    {
      schema: {
        tags: ['bots'],
        params: idParams('tid'),
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'scopes'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 100 },
            scopes: { type: 'array', uniqueItems: true, maxItems: SCOPES.length, items: { type: 'string', enum: [...SCOPES] } },
          },
        },
      },
    },
    async (req, reply) => {
      const { tid } = req.params;
      const principal = await app.authenticate(req);
      await s.membership.requireRole(tid, principal, 'admin');
      requireUser(principal);
      const botId = await s.db.tx(async (c) => {
        const { rows } = await c.query<{ id: string }>(`INSERT INTO users (display_name, kind) VALUES ($1, 'bot') RETURNING id`, [req.body.name]);
        const id = rows[0]!.id;
        await c.query('INSERT INTO bots (user_id, tenant_id, scopes, created_by) VALUES ($1, $2, $3, $4)', [id, tid, req.body.scopes, principal.userId]);
        await c.query(`INSERT INTO tenant_members (tenant_id, user_id, role) VALUES ($1, $2, 'member')`, [tid, id]);
        return id;
      });
      const token = await s.auth.issue(botId, { kind: 'bot', tid, scp: req.body.scopes, ttlSeconds: BOT_TOKEN_TTL_SECONDS });
      return reply.status(201).send({ botId, token });
    },
  );
}
