import type { FastifyRequest } from 'fastify';
import { bearer, type Principal, type UserRow } from '../auth.ts';
import { forbidden } from '../errors.ts';
import { requireScope, type Channel } from '../membership.ts';
import type { Services } from '../services.ts';

/** Tenant administration and bot creation are for people: a bot token gets 403. */
export function requireUser(principal: Principal): void {
  if (principal.kind !== 'user') throw forbidden('bots cannot use this route');
}

/**
 * Loads a channel of a tenant and requires the principal to read it.
 * A caller who may not read it gets 404, so channels cannot be probed.
 */
export async function readableChannel(s: Services, principal: Principal, tenantId: string, channelId: string): Promise<Channel> {
  const ch = await s.membership.channel(tenantId, channelId);
  await s.membership.requireRead(principal, ch);
  return ch;
}

/** Like `readableChannel`, and also requires the right to post (403 when the caller may read but not write). */
export async function writableChannel(s: Services, principal: Principal, tenantId: string, channelId: string): Promise<Channel> {
  const ch = await s.membership.channel(tenantId, channelId);
  await s.membership.requireReadWrite(principal, ch);
  return ch;
}

/** Postgres parses only this form of uuid; the params schema also lets `urn:uuid:` through. */
const CANONICAL_UUID = /^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i;

type UserAndChannelRow = UserRow & { [K in keyof Channel as `ch_${K}`]: Channel[K] | null };

/**
 * `app.authenticate(req)`, `requireScope` and `writableChannel` for the message
 * posting path, with the caller's user row and the channel read in one round
 * trip: the same checks in the same order, so the same answers.
 */
export async function posterAndChannel(
  s: Services,
  req: FastifyRequest,
  scope: string,
  tenantId: string,
  channelId: string,
): Promise<{ principal: Principal; ch: Channel }> {
  if (req.principal || !CANONICAL_UUID.test(channelId)) {
    const principal = req.principal ?? (req.principal = await s.auth.authenticate(bearer(req.headers.authorization)));
    requireScope(s.config, principal, scope);
    return { principal, ch: await writableChannel(s, principal, tenantId, channelId) };
  }
  const claims = s.auth.verifyToken(bearer(req.headers.authorization));
  const { rows } = await s.db.query<UserAndChannelRow>(
    `SELECT u.id, u.kind, u.suspended,
            c.id AS ch_id, c.tenant_id AS ch_tenant_id, c.name AS ch_name, c.private AS ch_private, c.created_by AS ch_created_by
       FROM users u LEFT JOIN channels c ON c.id = $2
      WHERE u.id = $1`,
    [claims.sub, channelId],
    'auth-user-channel',
  );
  const row = rows[0];
  const principal = (req.principal = s.auth.principal(claims, row && { id: row.id, kind: row.kind, suspended: row.suspended }));
  requireScope(s.config, principal, scope);
  const found = row!.ch_id === null ? undefined : { id: row!.ch_id, tenant_id: row!.ch_tenant_id!, name: row!.ch_name!, private: row!.ch_private!, created_by: row!.ch_created_by! };
  const ch = s.membership.visibleChannel(tenantId, found);
  await s.membership.requireReadWrite(principal, ch);
  return { principal, ch };
}
