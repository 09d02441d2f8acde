import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../auth.ts';
import { conflict, forbidden, notFound } from '../errors.ts';
import { ROLE_RANK, type Role } from '../membership.ts';
import type { Services } from '../services.ts';
import { requireUser } from './guards.ts';
import { idParams, type TenantParams } from './schemas.ts';

interface MemberParams extends TenantParams {
  uid: string;
}

/** The role a `groups` list asks for, and the names in it that are only labels. */
export interface ParsedGroups {
  role: Role;
  labels: string[];
}

/**
 * Parses `groups` ("admin,ops", "member|ops"): split on commas and pipes, the
 * role is the highest role named (member if none), other names are labels.
 * With `admin-demote-parse` on, pipes are not separators and an unrecognised
 * list keeps `current`, so a demotion written with pipes leaves the role as it was.
 */
export function parseGroups(groups: string, current: Role, legacy: boolean): ParsedGroups {
  const names = [...new Set(groups.split(legacy ? ',' : /[,|]/).map((g) => g.trim().toLowerCase()).filter(Boolean))];
  const roles = names.filter((n): n is Role => Object.hasOwn(ROLE_RANK, n));
  const labels = names.filter((n) => !Object.hasOwn(ROLE_RANK, n));
  if (roles.length === 0) return { role: legacy ? current : 'member', labels };
  return { role: roles.reduce((a, b) => (ROLE_RANK[b] > ROLE_RANK[a] ? b : a)), labels };
}

/** The target's current role in the tenant; 404 when the target is not a member. */
async function memberRole(s: Services, tenantId: string, userId: string): Promise<Role> {
  const { rows } = await s.db.query<{ role: Role }>('SELECT role FROM tenant_members WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
  if (!rows[0]) throw notFound('member not found');
  return rows[0].role;
}

/** Owners cannot be changed by anyone; admins only by an owner. */
function requireOutranks(actorRole: Role, targetRole: Role): void {
  if (targetRole === 'owner') throw forbidden('owners cannot be changed');
  if (targetRole === 'admin' && actorRole !== 'owner') throw forbidden('only an owner may change an admin');
}

/** Loads the caller as a human admin (or owner) of the tenant. */
async function requireAdmin(app: FastifyInstance, s: Services, req: FastifyRequest, tenantId: string): Promise<{ principal: Principal; role: Role }> {
  const principal = await app.authenticate(req);
  const role = await s.membership.requireRole(tenantId, principal, 'admin');
  requireUser(principal);
  return { principal, role };
}

/** Tenants, the member directory and tenant administration (roles, suspension, removal). */
export function registerTenantRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['tenants'];

  app.post<{ Body: { name: string } }>(
    '/tenants',
    {
      schema: {
        tags,
        body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 100 } } },
      },
    },
    async (req, reply) => {
      const principal = await app.authenticate(req);
      requireUser(principal);
      const tenantId = await s.db.tx(async (c) => {
        const { rows } = await c.query<{ id: string }>('INSERT INTO tenants (name) VALUES ($1) RETURNING id', [req.body.name]);
        await c.query(`INSERT INTO tenant_members (tenant_id, user_id, role) VALUES ($1, $2, 'owner')`, [rows[0]!.id, principal.userId]);
        return rows[0]!.id;
      });
      await s.membership.invalidate(tenantId, principal.userId);
      return reply.status(201).send({ tenantId });
    },
  );

  app.get<{ Params: TenantParams }>('/tenants/:tid', { schema: { tags, params: idParams('tid') } }, async (req) => {
    const principal = await app.authenticate(req);
    const role = await s.membership.requireRole(req.params.tid, principal);
    const { rows } = await s.db.query<{ name: string }>('SELECT name FROM tenants WHERE id = $1', [req.params.tid]);
    if (!rows[0]) throw notFound('tenant not found');
    return { tenantId: req.params.tid, name: rows[0].name, role };
  });

  app.post<{ Params: TenantParams; Body: { email: string; role: Role } }>(
    '/tenants/:tid/members',
    {
      schema: {
        tags,
        params: idParams('tid'),
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'role'],
          properties: { email: { type: 'string', minLength: 1, maxLength: 254 }, role: { type: 'string', enum: ['admin', 'member', 'guest'] } },
        },
      },
    },
    async (req, reply) => {
      const { tid } = req.params;
      const { role: actorRole } = await requireAdmin(app, s, req, tid);
      if (req.body.role === 'admin' && actorRole !== 'owner') throw forbidden('only an owner may grant admin');
      const user = await s.db.query<{ id: string }>(`SELECT id FROM users WHERE email = $1 AND kind = 'user'`, [req.body.email.trim().toLowerCase()]);
      const userId = user.rows[0]?.id;
      if (!userId) throw notFound('no user with this email');
      const inserted = await s.db.query(
        'INSERT INTO tenant_members (tenant_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, user_id) DO NOTHING',
        [tid, userId, req.body.role],
      );
      if (!inserted.rowCount) throw conflict('user is already a member of this tenant');
      await s.membership.invalidate(tid, userId);
      return reply.status(201).send({ userId, role: req.body.role });
    },
  );

  app.get<{ Params: TenantParams; Querystring: { q?: string } }>(
    '/tenants/:tid/members',
    {
      schema: {
        tags,
        params: idParams('tid'),
        querystring: { type: 'object', additionalProperties: false, properties: { q: { type: 'string', maxLength: 100 } } },
      },
    },
    async (req) => {
      const principal = await app.authenticate(req);
      await s.membership.requireRole(req.params.tid, principal, 'member');
      const pattern = `%${(req.query.q ?? '').replace(/[\\%_]/g, '\\$&')}%`;
      const { rows } = await s.db.query<{ id: string; display_name: string; email: string | null; role: Role }>(
        `SELECT u.id, u.display_name, u.email, m.role
           FROM tenant_members m JOIN users u ON u.id = m.user_id
          WHERE m.tenant_id = $1 AND (u.display_name ILIKE $2 OR u.email ILIKE $2)
          ORDER BY u.display_name, u.id
          LIMIT 200`,
        [req.params.tid, pattern],
      );
      return { items: rows.map((r) => ({ userId: r.id, displayName: r.display_name, email: r.email, role: r.role })) };
    },
  );

  app.put<{ Params: MemberParams; Body: { groups: string } }>(
    '/tenants/:tid/members/:uid/role',
    {
      schema: {
        tags,
        params: idParams('tid', 'uid'),
        body: { type: 'object', additionalProperties: false, required: ['groups'], properties: { groups: { type: 'string', maxLength: 500 } } },
      },
    },
    async (req) => {
      const { tid, uid } = req.params;
      const { role: actorRole } = await requireAdmin(app, s, req, tid);
      const current = await memberRole(s, tid, uid);
      requireOutranks(actorRole, current);
      const { role, labels } = parseGroups(req.body.groups, current, s.config.flaws.has('admin-demote-parse'));
      if (role === 'owner') throw forbidden('ownership cannot be granted');
      if (role === 'admin' && actorRole !== 'owner') throw forbidden('only an owner may grant admin');
      await s.db.query('UPDATE tenant_members SET role = $3, groups = $4 WHERE tenant_id = $1 AND user_id = $2', [tid, uid, role, labels]);
      await s.membership.invalidate(tid, uid);
      return { userId: uid, role, groups: labels };
    },
  );

  app.post<{ Params: MemberParams }>('/tenants/:tid/members/:uid/suspend', { schema: { tags, params: idParams('tid', 'uid') } }, async (req) => {
    const { tid, uid } = req.params;
    const { role: actorRole } = await requireAdmin(app, s, req, tid);
    requireOutranks(actorRole, await memberRole(s, tid, uid));
    await s.db.query('UPDATE users SET suspended = true WHERE id = $1', [uid]);
    await s.membership.invalidate(tid, uid);
    return { userId: uid, suspended: true };
  });

  app.delete<{ Params: MemberParams }>('/tenants/:tid/members/:uid', { schema: { tags, params: idParams('tid', 'uid') } }, async (req, reply) => {
    const { tid, uid } = req.params;
    const { role: actorRole } = await requireAdmin(app, s, req, tid);
    requireOutranks(actorRole, await memberRole(s, tid, uid));
    const revoked = await s.db.tx(async (c) => {
      const { rows } = await c.query<{ channel_id: string }>(
        'DELETE FROM channel_members cm USING channels ch WHERE cm.channel_id = ch.id AND ch.tenant_id = $1 AND cm.user_id = $2 RETURNING cm.channel_id',
        [tid, uid],
      );
      await c.query('DELETE FROM tenant_members WHERE tenant_id = $1 AND user_id = $2', [tid, uid]);
      return rows.map((r) => r.channel_id);
    });
    await s.membership.invalidate(tid, uid);
    await Promise.all(
      revoked.map((channelId) => s.bus.publish({ scope: { control: true }, tenantId: tid, event: { type: 'membership.revoked', channelId, userId: uid } })),
    );
    return reply.status(204).send();
  });
}
