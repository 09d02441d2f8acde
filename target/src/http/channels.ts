import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forbidden, notFound } from '../errors.ts';
import { requireScope, ROLE_RANK, type Channel } from '../membership.ts';
import type { Services } from '../services.ts';
import { readableChannel } from './guards.ts';
import { idParams, type ChannelParams, type TenantParams } from './schemas.ts';

interface ChannelMemberParams extends ChannelParams {
  uid: string;
}

function toChannel(ch: Channel) {
  return { channelId: ch.id, name: ch.name, private: ch.private, tenantId: ch.tenant_id };
}

/**
 * Loads a channel for membership management: the channel's creator or an admin+
 * of the channel's tenant. Callers who cannot even read the channel get 404.
 */
async function managedChannel(app: FastifyInstance, s: Services, req: FastifyRequest<{ Params: ChannelParams }>): Promise<Channel> {
  const principal = await app.authenticate(req);
  requireScope(s.config, principal, 'channels:write');
  const ch = await s.membership.channel(req.params.tid, req.params.cid);
  const role = await s.membership.role(ch.tenant_id, principal);
  if (!role) throw notFound('channel not found');
  if (ch.created_by === principal.userId || ROLE_RANK[role] >= ROLE_RANK.admin) return ch;
  await s.membership.requireRead(principal, ch);
  throw forbidden('only the channel creator or an admin may manage members');
}

/** Channels of a tenant and their member lists. */
export function registerChannelRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['channels'];

  app.post<{ Params: TenantParams; Body: { name: string; private?: boolean } }>(
    '/tenants/:tid/channels',
    {
      schema: {
        tags,
        params: idParams('tid'),
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 80 }, private: { type: 'boolean', default: false } },
        },
      },
    },
    async (req, reply) => {
      const principal = await app.authenticate(req);
      requireScope(s.config, principal, 'channels:write');
      await s.membership.requireRole(req.params.tid, principal, 'member');
      const isPrivate = req.body.private ?? false;
      const channelId = await s.db.tx(async (c) => {
        const { rows } = await c.query<{ id: string }>('INSERT INTO channels (tenant_id, name, private, created_by) VALUES ($1, $2, $3, $4) RETURNING id', [
          req.params.tid,
          req.body.name,
          isPrivate,
          principal.userId,
        ]);
        await c.query('INSERT INTO channel_members (channel_id, user_id) VALUES ($1, $2)', [rows[0]!.id, principal.userId]);
        return rows[0]!.id;
      });
      return reply.status(201).send({ channelId, name: req.body.name, private: isPrivate });
    },
  );

  app.get<{ Params: TenantParams }>('/tenants/:tid/channels', { schema: { tags, params: idParams('tid') } }, async (req) => {
    const principal = await app.authenticate(req);
    requireScope(s.config, principal, 'channels:read');
    const role = await s.membership.requireRole(req.params.tid, principal);
    const { rows } = await s.db.query<Channel>(
      `SELECT c.id, c.tenant_id, c.name, c.private, c.created_by
         FROM channels c
        WHERE c.tenant_id = $1
          AND ((NOT c.private AND $3) OR EXISTS (SELECT 1 FROM channel_members m WHERE m.channel_id = c.id AND m.user_id = $2))
        ORDER BY c.created_at, c.id`,
      [req.params.tid, principal.userId, role !== 'guest'],
    );
    return { items: rows.map(toChannel) };
  });

  app.get<{ Params: ChannelParams }>('/tenants/:tid/channels/:cid', { schema: { tags, params: idParams('tid', 'cid') } }, async (req) => {
    const principal = await app.authenticate(req);
    requireScope(s.config, principal, 'channels:read');
    return toChannel(await readableChannel(s, principal, req.params.tid, req.params.cid));
  });

  app.post<{ Params: ChannelParams; Body: { userId: string } }>(
    '/tenants/:tid/channels/:cid/members',
    {
      schema: {
        tags,
        params: idParams('tid', 'cid'),
        body: { type: 'object', additionalProperties: false, required: ['userId'], properties: { userId: { type: 'string', format: 'uuid' } } },
      },
    },
    async (req, reply) => {
      const ch = await managedChannel(app, s, req);
      const { userId } = req.body;
      const inTenant = await s.db.query('SELECT 1 FROM tenant_members WHERE tenant_id = $1 AND user_id = $2', [ch.tenant_id, userId]);
      if (!inTenant.rowCount) throw notFound('user is not a member of this tenant');
      await s.db.query('INSERT INTO channel_members (channel_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [ch.id, userId]);
      return reply.status(201).send({ channelId: ch.id, userId });
    },
  );

  app.delete<{ Params: ChannelMemberParams }>(
    '/tenants/:tid/channels/:cid/members/:uid',
    { schema: { tags, params: idParams('tid', 'cid', 'uid') } },
    async (req, reply) => {
      const ch = await managedChannel(app, s, req);
      const { uid } = req.params;
      const deleted = await s.db.query('DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2', [ch.id, uid]);
      if (!deleted.rowCount) throw notFound('user is not a member of this channel');
      await s.bus.publish({ scope: { control: true }, tenantId: ch.tenant_id, event: { type: 'membership.revoked', channelId: ch.id, userId: uid } });
      return reply.status(204).send();
    },
  );
}
