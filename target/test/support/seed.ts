import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Principal } from '../../src/auth.ts';
import type { Channel } from '../../src/membership.ts';
import type { RunningTarget } from './target.ts';

/** A user, a tenant they own and a public channel in it, written straight to the database. */
export interface Seeded {
  userId: string;
  tenantId: string;
  channelId: string;
  token: string;
  principal: Principal;
  channel: Channel;
}

/**
 * Seeds through SQL rather than the HTTP API, so tests of the preview and of
 * resilience do not depend on the API routes; the token is minted by the instance itself.
 */
export async function seed(running: RunningTarget): Promise<Seeded> {
  const c = new pg.Client({ connectionString: running.databaseUrl });
  await c.connect();
  try {
    const email = `u-${randomUUID()}@example.test`;
    const userId = (await c.query<{ id: string }>("INSERT INTO users (email, display_name) VALUES ($1, 'Seed') RETURNING id", [email])).rows[0]!.id;
    const tenantId = (await c.query<{ id: string }>("INSERT INTO tenants (name) VALUES ('seed') RETURNING id")).rows[0]!.id;
    await c.query("INSERT INTO tenant_members (tenant_id, user_id, role) VALUES ($1, $2, 'owner')", [tenantId, userId]);
    const channelId = (await c.query<{ id: string }>("INSERT INTO channels (tenant_id, name, created_by) VALUES ($1, 'general', $2) RETURNING id", [tenantId, userId])).rows[0]!.id;
    await c.query('INSERT INTO channel_members (channel_id, user_id) VALUES ($1, $2)', [channelId, userId]);
    const token = await running.app.services.auth.issue(userId);
    const principal = await running.app.services.auth.authenticate(token);
    const channel: Channel = { id: channelId, tenant_id: tenantId, name: 'general', private: false, created_by: userId };
    return { userId, tenantId, channelId, token, principal, channel };
  } finally {
    await c.end();
  }
}
