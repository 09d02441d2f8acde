import type { FastifyInstance } from 'fastify';
import { badRequest, forbidden, notFound } from '../errors.ts';
import { requireScope, ROLE_RANK } from '../membership.ts';
import { toMessage, type Message } from '../messages.ts';
import type { Services } from '../services.ts';
import { posterAndChannel, readableChannel } from './guards.ts';
import { idParams, type ChannelParams } from './schemas.ts';

interface MessageParams extends ChannelParams {
  mid: string;
}

type MessageRow = Parameters<typeof toMessage>[0];

const COLUMNS = 'id, channel_id, author_id, body, client_id, created_at, edited_at';
const body = { type: 'string', minLength: 1, maxLength: 4000 } as const;

async function findMessage(s: Services, channelId: string, messageId: string): Promise<MessageRow> {
  const { rows } = await s.db.query<MessageRow>(`SELECT ${COLUMNS} FROM messages WHERE id = $1 AND channel_id = $2`, [messageId, channelId]);
  if (!rows[0]) throw notFound('message not found');
  return rows[0];
}

/** Posting, paging, editing and deleting channel messages. */
export function registerMessageRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['messages'];

  app.post<{ Params: ChannelParams; Body: { body: string; clientId?: string } }>(
    '/tenants/:tid/channels/:cid/messages',
    {
      schema: {
        tags,
        params: idParams('tid', 'cid'),
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['body'],
          properties: { body, clientId: { type: 'string', minLength: 1, maxLength: 128 } },
        },
      },
    },
    async (req, reply) => {
      const { principal, ch } = await posterAndChannel(s, req, 'messages:write', req.params.tid, req.params.cid);
      const { message, created } = await s.messages.createOrGet(principal, ch, req.body.body, req.body.clientId ?? null);
      return reply.status(created ? 201 : 200).send(message);
    },
  );

  app.get<{ Params: ChannelParams; Querystring: { limit: number; before?: string } }>(
    '/tenants/:tid/channels/:cid/messages',
    {
      schema: {
        tags,
        params: idParams('tid', 'cid'),
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 }, before: { type: 'string', format: 'uuid' } },
        },
      },
    },
    async (req) => {
      const principal = await app.authenticate(req);
      requireScope(s.config, principal, 'messages:read');
      const ch = await readableChannel(s, principal, req.params.tid, req.params.cid);
      const { limit, before } = req.query;
      let cursor: string | null = null;
      if (before) {
        const { rows } = await s.db.query<{ seq: string }>('SELECT seq FROM messages WHERE id = $1 AND channel_id = $2', [before, ch.id]);
        if (!rows[0]) throw badRequest('before does not name a message in this channel', 'validation_failed');
        cursor = rows[0].seq;
      }
      const { rows } = await s.db.query<MessageRow>(
        `SELECT ${COLUMNS} FROM messages WHERE channel_id = $1 AND ($2::bigint IS NULL OR seq < $2::bigint) ORDER BY seq DESC LIMIT $3`,
        [ch.id, cursor, limit + 1],
      );
      const items: Message[] = rows.slice(0, limit).map(toMessage);
      return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
    },
  );

  app.patch<{ Params: MessageParams; Body: { body: string } }>(
    '/tenants/:tid/channels/:cid/messages/:mid',
    {
      schema: {
        tags,
        params: idParams('tid', 'cid', 'mid'),
        body: { type: 'object', additionalProperties: false, required: ['body'], properties: { body } },
      },
    },
    async (req) => {
      const principal = await app.authenticate(req);
      requireScope(s.config, principal, 'messages:write');
      const ch = await readableChannel(s, principal, req.params.tid, req.params.cid);
      const existing = await findMessage(s, ch.id, req.params.mid);
      if (existing.author_id !== principal.userId && !s.config.flaws.has('message-edit-any-author')) throw forbidden('only the author may edit a message');
      const { rows } = await s.db.query<MessageRow>(`UPDATE messages SET body = $2, edited_at = now() WHERE id = $1 RETURNING ${COLUMNS}`, [
        existing.id,
        req.body.body,
      ]);
      return toMessage(rows[0]!);
    },
  );

  app.delete<{ Params: MessageParams }>(
    '/tenants/:tid/channels/:cid/messages/:mid',
    { schema: { tags, params: idParams('tid', 'cid', 'mid') } },
    async (req, reply) => {
      const principal = await app.authenticate(req);
      requireScope(s.config, principal, 'messages:write');
      const ch = await readableChannel(s, principal, req.params.tid, req.params.cid);
      const existing = await findMessage(s, ch.id, req.params.mid);
      if (existing.author_id !== principal.userId) {
        const role = await s.membership.role(ch.tenant_id, principal);
        if (!role || ROLE_RANK[role] < ROLE_RANK.admin) throw forbidden('only the author or an admin may delete a message');
      }
      await s.db.query('DELETE FROM messages WHERE id = $1', [existing.id]);
      return reply.status(204).send();
    },
  );
}
